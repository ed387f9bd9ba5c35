// Tests of the GGUF reader: metadata of every type, v2 and v3, dequantisation of every supported
// type against the `gguf` Python package (fixtures from scripts/make_io_fixtures.py, exact match),
// and hostile files (bad magic, versions, lengths, offsets, types, dims), which must throw, not trap.

import Foundation
import Testing
import HATIO

@Suite struct GGUFTests {
    @Test func metadataOfEveryType() throws {
        let g = try GGUFFile(path: fixturesPath + "/quants.gguf")
        #expect(g.version == 3)
        #expect(g.alignment == 64)
        #expect(g.dataStart % 64 == 0)
        let m = g.metadata
        #expect(m["test.u8"] == .uint8(200))
        #expect(m["test.i8"] == .int8(-100))
        #expect(m["test.u16"] == .uint16(60000))
        #expect(m["test.i16"] == .int16(-30000))
        #expect(m["test.u32"] == .uint32(4_000_000_000))
        #expect(m["test.i32"] == .int32(-2_000_000_000))
        #expect(m["test.u64"] == .uint64(1 << 63 + 5))
        #expect(m["test.i64"] == .int64(-(1 << 62)))
        #expect(m["test.f32"] == .float32(1e-5))
        #expect(m["test.f32"]?.double == 1e-5)
        #expect(m["test.f64"] == .float64(0.1))
        #expect(m["test.bool"] == .bool(true))
        #expect(m["test.string"] == .string("héllo ✓"))
        #expect(m["test.array_i32"]?.array?.compactMap(\.int) == [1, -2, 3])
        #expect(m["test.array_str"]?.array?.compactMap(\.string) == ["a", "", "ccc"])
        let nested = try #require(m["test.array_nested"]?.array)
        #expect(nested.map { $0.array?.compactMap(\.int) ?? [] } == [[1, 2], [3]])
        // Keys in file order, as the gguf package wrote them (its reader lists the same order).
        #expect(g.metadataKeys == ["general.architecture"]
                + ["u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "bool", "string",
                   "array_i32", "array_str", "array_nested"].map { "test." + $0 }
                + ["general.alignment"])
    }

    @Test(arguments: ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"])
    func dequantisationMatchesPython(type: String) throws {
        let g = try GGUFFile(path: fixturesPath + "/quants.gguf")
        let expected = try SafeTensorsFile(path: fixturesPath + "/quants_expected.safetensors")
        let info = try g.info(type)
        #expect(info.type.name == type)
        #expect(info.shape == (try expected.info(type).shape))
        let got = try g.floats(type)
        let want = try expected.floats(type)
        #expect(got.count == want.count)
        var mismatches = 0
        for i in 0..<min(got.count, want.count) where got[i].bitPattern != want[i].bitPattern {
            if mismatches < 5 { Issue.record("\(type)[\(i)] = \(got[i]), gguf.quants gives \(want[i])") }
            mismatches += 1
        }
        #expect(mismatches == 0)
        // a row range equals the same slice of the whole tensor
        var row = [Float](repeating: .nan, count: info.rowLength)
        try g.dequantize(type, rows: 1..<2, into: &row)
        #expect(row == Array(want[info.rowLength..<(2 * info.rowLength)]))
    }

    @Test func version2Reads() throws {
        let g = try GGUFFile(path: fixturesPath + "/small_v2.gguf")
        #expect(g.version == 2)
        #expect(try g.floats("Q8_0") == (try SafeTensorsFile(path: fixturesPath + "/small_v2_expected.safetensors").floats("Q8_0")))
    }

    @Test func handBuiltFileReads() throws {
        let dir = ScratchDirectory()
        let g = try GGUFFile(path: dir.write("ok.gguf", GGUFBuilder.valid().bytes()))
        #expect(g.architecture == "test")
        #expect(try g.info("w").shape == [2, 4])
        #expect(try g.floats("w") == (0..<8).map(Float.init))
    }

    // MARK: hostile files

    private func expectHostile(_ kind: HATIOError.Kind, _ g: GGUFBuilder, mentions: [String] = []) {
        expectHostile(kind, g.bytes(), mentions: mentions)
    }

    private func expectHostile(_ kind: HATIOError.Kind, _ bytes: [UInt8], mentions: [String] = []) {
        let dir = ScratchDirectory()
        let path = dir.write("bad.gguf", bytes)
        if let e = expectIOError(kind, { _ = try GGUFFile(path: path) }) {
            #expect(e.description.contains("bad.gguf"))
            for m in mentions { #expect(e.description.contains(m), "\(e.description) should mention \(m)") }
        }
    }

    @Test func badMagic() {
        var g = GGUFBuilder.valid()
        g.magic = Array("GGML".utf8)
        expectHostile(.malformed, g, mentions: ["magic", "GGUF"])
        expectHostile(.truncated, [0x47, 0x47])
        expectHostile(.truncated, [])
    }

    @Test func unsupportedVersions() {
        for v: UInt32 in [1, 4, 0xFFFF_FFFF] {
            var g = GGUFBuilder.valid()
            g.version = v
            expectHostile(.unsupported, g, mentions: ["version \(v)"])
        }
        var g = GGUFBuilder.valid()
        g.version = UInt32(3).byteSwapped
        expectHostile(.unsupported, g, mentions: ["big-endian"])
    }

    @Test func countsBeyondFile() {
        var g = GGUFBuilder.valid()
        g.tensorCountOverride = UInt64.max
        expectHostile(.truncated, g, mentions: ["announces"])
        g = GGUFBuilder.valid()
        g.kvCountOverride = 1 << 40
        expectHostile(.truncated, g)
        g = GGUFBuilder.valid()
        g.kvCountOverride = 2      // one more than present: runs into the tensor infos, then the end
        expectIOErrorAny { _ = try GGUFFile(path: ScratchDirectory().write("x.gguf", g.bytes())) }
    }

    @Test func stringLengthBeyondFile() {
        var g = GGUFBuilder.valid()
        g.metadata = [("general.architecture", { b in b.u32(8); b.u64(1 << 62); b.raw("llama") })]
        expectHostile(.truncated, g, mentions: ["length", "remain"])
        g = GGUFBuilder.valid()
        g.metadata = [("k", { b in b.u32(8); b.u64(UInt64.max) })]
        expectHostile(.truncated, g)
    }

    @Test func arrayLengthBeyondFile() {
        var g = GGUFBuilder.valid()
        g.metadata = [("tokenizer.ggml.tokens", { b in b.u32(9); b.u32(8); b.u64(1 << 60) })]
        expectHostile(.truncated, g, mentions: ["array"])
        g.metadata = [("a", { b in b.u32(9); b.u32(77); b.u64(1) })]
        expectHostile(.malformed, g, mentions: ["element type 77"])
        g.metadata = [("a", { b in b.u32(13); b.u32(0) })]
        expectHostile(.malformed, g, mentions: ["value type 13"])
    }

    @Test func deeplyNestedArrays() {
        var g = GGUFBuilder.valid()
        g.metadata = [("a", { b in
            b.u32(9)
            for _ in 0..<20 { b.u32(9); b.u64(1) }
            b.u32(0); b.u64(0)
        })]
        expectHostile(.malformed, g, mentions: ["nested"])
    }

    @Test func tensorDataBeyondFile() {
        var g = GGUFBuilder.valid()
        g.tensors[0].dims = [4, 3]           // 48 bytes, the data section has 32
        expectHostile(.outOfBounds, g, mentions: ["'w'", "beyond"])
        g = GGUFBuilder.valid()
        g.tensors[0].offset = UInt64(Int.max) / 32 * 32
        expectHostile(.outOfBounds, g)
        g = GGUFBuilder.valid()
        g.tensors[0].offset = 1 << 63
        expectHostile(.misaligned, g)
    }

    @Test func unknownQuantType() {
        for id: UInt32 in [4, 5, 31, 99, 0xFFFF_FFFF] {
            var g = GGUFBuilder.valid()
            g.tensors[0].type = id
            expectHostile(.unknownDType, g, mentions: ["type id \(id)", "'w'"])
        }
    }

    @Test func unsupportedButKnownTypeFailsOnRead() throws {
        var g = GGUFBuilder.valid()
        g.tensors[0] = .init(name: "w", dims: [256, 1], type: 10, offset: 0)   // Q2_K: 84 bytes
        g.data = [UInt8](repeating: 0, count: 84)
        let dir = ScratchDirectory()
        let f = try GGUFFile(path: dir.write("q2k.gguf", g.bytes()))
        expectIOError(.unsupported) { _ = try f.floats("w") }
    }

    @Test func badDims() {
        var g = GGUFBuilder.valid()
        g.tensors[0].dims = [1, 1, 1, 1, 8]
        expectHostile(.badShape, g, mentions: ["n_dims is 5"])
        g.tensors[0].dims = []
        expectHostile(.badShape, g, mentions: ["n_dims is 0"])
        g.tensors[0].dims = [0, 2]
        expectHostile(.badShape, g)
        g.tensors[0].dims = [1 << 40, 1 << 40]
        expectHostile(.badShape, g, mentions: ["overflow"])
        g.tensors[0].dims = [UInt64.max, 1]
        expectHostile(.badShape, g)
        g.tensors[0] = .init(name: "w", dims: [33, 1], type: 8, offset: 0)   // Q8_0 rows must be multiples of 32
        expectHostile(.badShape, g, mentions: ["block size 32"])
    }

    @Test func misalignedDataOffset() {
        var g = GGUFBuilder.valid()
        g.tensors[0].offset = 4
        expectHostile(.misaligned, g, mentions: ["alignment 32"])
        g = GGUFBuilder.valid()
        g.metadata.append(("general.alignment", { b in b.u32(4); b.u32(24) }))
        expectHostile(.malformed, g, mentions: ["power of two"])
        g = GGUFBuilder.valid()
        g.metadata.append(("general.alignment", { b in b.u32(10); b.u64(32) }))
        expectHostile(.malformed, g, mentions: ["uint32"])
    }

    @Test func overlappingAndDuplicateTensors() {
        var g = GGUFBuilder.valid()
        g.tensors.append(.init(name: "v", dims: [4], type: 0, offset: 0))
        expectHostile(.overlap, g, mentions: ["overlaps"])
        g.tensors[1].name = "w"
        expectHostile(.duplicate, g, mentions: ["'w'"])
        g = GGUFBuilder.valid()
        g.string("general.architecture", "again")
        expectHostile(.duplicate, g, mentions: ["general.architecture"])
    }

    @Test func invalidUTF8Name() {
        var g = GGUFBuilder.valid()
        g.tensors[0].name = "w"
        var bytes = g.bytes()
        // the tensor name "w" follows its 8-byte length; find it after the metadata
        let at = bytes.lastIndex(of: UInt8(ascii: "w"))!
        bytes[at] = 0xFF
        expectHostile(.malformed, bytes, mentions: ["UTF-8"])
    }

    @Test func everyTruncationThrows() throws {
        // every prefix of a real file (header region densely, data region sparsely) gives an error, never a trap
        let whole = try Data(contentsOf: URL(fileURLWithPath: fixturesPath + "/quants.gguf"))
        let g = try GGUFFile(path: fixturesPath + "/quants.gguf")
        let dir = ScratchDirectory()
        let end = g.tensors.map(\.fileRange.upperBound).max()!     // the writer pads after the last tensor
        var cuts = Array(0..<g.dataStart)
        cuts += Array(stride(from: g.dataStart, to: end, by: 97)) + [end - 1]
        for cut in cuts {
            let path = dir.write("cut.gguf", [UInt8](whole.prefix(cut)))
            do {
                _ = try GGUFFile(path: path)
                Issue.record("a file cut at \(cut) of \(whole.count) bytes opened without error")
            } catch is HATIOError {
            } catch {
                Issue.record("cut at \(cut): unexpected error \(error)")
            }
        }
    }

    @Test func randomCorruptionNeverTraps() throws {
        // flip random header bytes: either a clean open whose reads stay in bounds, or a HATIOError
        let whole = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturesPath + "/quants.gguf")))
        let headerEnd = try GGUFFile(path: fixturesPath + "/quants.gguf").dataStart
        let dir = ScratchDirectory()
        var state: UInt64 = 42
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33)
        }
        for _ in 0..<400 {
            var b = whole
            for _ in 0..<(1 + next() % 4) { b[next() % headerEnd] = UInt8(truncatingIfNeeded: next()) }
            let path = dir.write("c.gguf", b)
            do {
                let f = try GGUFFile(path: path)
                for t in f.tensors where t.type.canDequantize { _ = try f.floats(t.name) }
            } catch is HATIOError {
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }
}

/// Expects any HATIOError.
func expectIOErrorAny(_ body: () throws -> Void) {
    do { try body(); Issue.record("expected a HATIOError") } catch is HATIOError {} catch { Issue.record("unexpected \(error)") }
}
