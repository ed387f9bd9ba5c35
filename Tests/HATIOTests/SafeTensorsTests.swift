// Tests of the safetensors reader and streaming writer: round trips in F32/BF16/F16,
// a file written by the Python `safetensors` package, atomic replacement, and hostile
// headers (each must give a typed error naming the problem, never a trap).

import Foundation
import Testing
import HATIO

@Suite struct SafeTensorsTests {
    @Test(arguments: [DType.f32, .bf16, .f16])
    func roundTrip(dtype: DType) throws {
        let dir = ScratchDirectory()
        let path = dir.file("m.safetensors")
        let a: [Float] = (0..<12).map { Float($0) * 0.25 - 1 }          // exact in every dtype
        let b: [Float] = [3.5, -0.125]
        let w = try SafeTensorsWriter(path: path, tensors: [("layer.a", [3, 4]), ("empty", [0, 5]), ("b", [2])],
                                      dtype: dtype, metadata: ["format": "pt", "note": "quote \" and \\ ok"])
        try w.write("layer.a", from: a, count: a.count)
        try w.write("b", from: b, count: b.count)
        try w.finish()

        let f = try SafeTensorsFile(path: path)
        #expect(f.names == ["layer.a", "empty", "b"])
        #expect(f.metadata == ["format": "pt", "note": "quote \" and \\ ok"])
        #expect(try f.info("layer.a").shape == [3, 4])
        #expect(try f.info("layer.a").dtype == dtype)
        #expect(try f.info("empty").count == 0)
        #expect(try f.floats("layer.a") == a)
        #expect(try f.floats("b") == b)
        #expect(try f.floats("empty") == [])
        #expect(f.dataStart % 8 == 0)
    }

    @Test func bf16WriterRounds() throws {
        let dir = ScratchDirectory()
        let path = dir.file("r.safetensors")
        let x: [Float] = [1 + 0x1p-8, 1 + 3 * 0x1p-8, .nan, .infinity]
        let w = try SafeTensorsWriter(path: path, tensors: [("x", [4])], dtype: .bf16, metadata: [:])
        try w.write("x", from: x, count: 4)
        try w.finish()
        let y = try SafeTensorsFile(path: path).floats("x")
        #expect(y[0] == 1)
        #expect(y[1] == 1 + 4 * 0x1p-8)
        #expect(y[2].isNaN)
        #expect(y[3] == .infinity)
    }

    @Test func streamingInParts() throws {
        let dir = ScratchDirectory()
        let path = dir.file("p.safetensors")
        let x = (0..<10).map(Float.init)
        let w = try SafeTensorsWriter(path: path, tensors: [("x", [2, 5])], dtype: .f32, metadata: [:])
        try x.withUnsafeBufferPointer { p in
            try w.writePart("x", from: p.baseAddress!, count: 5)
            try w.writePart("x", from: p.baseAddress! + 5, count: 5)
        }
        try w.finish()
        #expect(try SafeTensorsFile(path: path).floats("x") == x)
    }

    @Test func writerMisuseIsReportedAndLeavesOldFile() throws {
        let dir = ScratchDirectory()
        let path = dir.file("keep.safetensors")
        try AtomicFile.write([1, 2, 3], to: path)
        let w = try SafeTensorsWriter(path: path, tensors: [("a", [2]), ("b", [2])], dtype: .f32, metadata: [:])
        let v: [Float] = [1, 2, 3]
        expectIOError(.usage) { try w.write("b", from: v, count: 2) }          // out of order
        expectIOError(.usage) { try w.write("a", from: v, count: 3) }          // wrong count
        try w.write("a", from: v, count: 2)
        expectIOError(.missingTensor) { try w.finish() }                         // "b" never written
        #expect(FileManager.default.contents(atPath: path) == Data([1, 2, 3]))
        // no temporary files left behind
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["keep.safetensors"])
    }

    @Test func abandonedWriterLeavesNoTrace() throws {
        let dir = ScratchDirectory()
        do {
            let w = try SafeTensorsWriter(path: dir.file("x.safetensors"), tensors: [("a", [1])], dtype: .f32, metadata: [:])
            _ = w
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [])
    }

    @Test func writerIntoMissingDirectoryFails() {
        expectIOError(.io) {
            _ = try SafeTensorsWriter(path: "/nonexistent-dir/x.safetensors", tensors: [("a", [1])], dtype: .f32, metadata: [:])
        }
    }

    @Test func atomicFileReplaces() throws {
        let dir = ScratchDirectory()
        let p = dir.file("c.json")
        try AtomicFile.write("{}", to: p)
        try AtomicFile.write("{\"a\": 1}", to: p)
        #expect(try String(contentsOfFile: p, encoding: .utf8) == "{\"a\": 1}")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["c.json"])
    }

    @Test func readsFileWrittenByPython() throws {
        // scripts/make_io_fixtures.py: safetensors.numpy.save_file with F32, F16 and BF16 tensors
        let f = try SafeTensorsFile(path: fixturesPath + "/python.safetensors")
        let expected = try SafeTensorsFile(path: fixturesPath + "/python_expected.safetensors")
        #expect(f.metadata["made_by"] == "make_io_fixtures.py")
        for name in ["f32", "f16", "bf16"] {
            let got = try f.floats(name)
            let want = try expected.floats(name)
            #expect(got.count == want.count)
            for i in 0..<min(got.count, want.count) where !(got[i] == want[i] || (got[i].isNaN && want[i].isNaN)) {
                Issue.record("\(name)[\(i)] = \(got[i]), expected \(want[i])")
                break
            }
        }
        #expect(try f.info("f16").shape == [3, 5])
        expectIOError(.unsupported) { _ = try f.floats("i64") }
    }

    @Test func readIntoChecksCount() throws {
        let dir = ScratchDirectory()
        let path = dir.file("c.safetensors")
        let w = try SafeTensorsWriter(path: path, tensors: [("a", [4])], dtype: .f32, metadata: [:])
        try w.write("a", from: [1, 2, 3, 4], count: 4)
        try w.finish()
        let f = try SafeTensorsFile(path: path)
        var out = [Float](repeating: 0, count: 8)
        expectIOError(.usage) { try f.read("a", into: &out, count: 8) }
        try f.read("a", into: &out, count: 4)
        #expect(Array(out[0..<4]) == [1, 2, 3, 4])
        expectIOError(.missingTensor) { _ = try f.info("nope") }
    }

    // MARK: hostile files

    /// Writes the bytes, opens them, expects an error of `kind` whose message contains `fragment`.
    private func expectHostile(_ kind: HATIOError.Kind, _ bytes: [UInt8], mentions fragments: [String] = []) {
        let dir = ScratchDirectory()
        let path = dir.write("bad.safetensors", bytes)
        let e = expectIOError(kind) { _ = try SafeTensorsFile(path: path) }
        if let e {
            #expect(e.description.contains("bad.safetensors"))
            for f in fragments { #expect(e.description.contains(f), "\(e.description) should mention \(f)") }
        }
    }

    private func entry(_ name: String, _ dtype: String, _ shape: [Int], _ begin: Int, _ end: Int) -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(begin),\(end)]}"
    }

    @Test func emptyAndTinyFiles() {
        expectHostile(.truncated, [], mentions: ["0 bytes"])
        expectHostile(.truncated, [1, 0, 0], mentions: ["3 bytes"])
    }

    @Test func headerLengthBeyondFile() {
        expectHostile(.truncated, safetensorsBytes(header: "{}", data: [], declaredLength: 1000), mentions: ["header length 1000"])
        expectHostile(.truncated, safetensorsBytes(header: "{}", data: [], declaredLength: UInt64.max), mentions: ["header length"])
    }

    @Test func truncatedHeaderJSON() {
        // the declared length cuts the JSON short
        let h = "{" + entry("a", "F32", [1], 0, 4) + "}"
        var bytes = safetensorsBytes(header: h, data: [0, 0, 0, 0])
        bytes[0] = UInt8(h.count - 3)
        expectHostile(.malformed, bytes, mentions: ["header JSON"])
    }

    @Test func malformedJSON() {
        expectHostile(.malformed, safetensorsBytes(header: "[1,2]", data: []), mentions: ["'{'"])
        expectHostile(.malformed, safetensorsBytes(header: "{\"a\":}", data: []), mentions: ["header JSON", "byte offset"])
        expectHostile(.malformed, safetensorsBytes(header: "{\"a\":{\"dtype\":\"F32\"}}", data: []), mentions: ["'a'", "shape"])
        expectHostile(.malformed, safetensorsBytes(header: "{\"__metadata__\":{\"k\":1}}", data: []), mentions: ["__metadata__.k"])
        expectHostile(.malformed, safetensorsBytes(header: String(repeating: "[", count: 100_000), data: []))
        expectHostile(.malformed, safetensorsBytes(header: String(repeating: "{\"a\":", count: 10_000), data: []), mentions: ["nesting"])
    }

    @Test func duplicateNames() {
        let h = "{" + entry("a", "F32", [1], 0, 4) + "," + entry("a", "F32", [1], 4, 8) + "}"
        expectHostile(.duplicate, safetensorsBytes(header: h, data: [UInt8](repeating: 0, count: 8)), mentions: ["'a'"])
    }

    @Test func unknownDType() {
        let h = "{" + entry("w", "F13", [1], 0, 4) + "}"
        expectHostile(.unknownDType, safetensorsBytes(header: h, data: [0, 0, 0, 0]), mentions: ["F13", "'w'"])
    }

    @Test func wrongDTypeSize() {
        // F32 [3] needs 12 bytes, the range gives 8
        let h = "{" + entry("w", "F32", [3], 0, 8) + "}"
        expectHostile(.badShape, safetensorsBytes(header: h, data: [UInt8](repeating: 0, count: 8)), mentions: ["needs 12 bytes", "span 8"])
    }

    @Test func shapeOverflow() {
        let big = Int.max / 2
        let h = "{" + entry("w", "F32", [big, big, 4], 0, 4) + "}"
        expectHostile(.badShape, safetensorsBytes(header: h, data: [0, 0, 0, 0]), mentions: ["overflow"])
        let h2 = "{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999999],\"data_offsets\":[0,4]}}"
        expectHostile(.badShape, safetensorsBytes(header: h2, data: [0, 0, 0, 0]))
        let h3 = "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}"
        expectHostile(.badShape, safetensorsBytes(header: h3, data: [0, 0, 0, 0]))
        // a product that only overflows after multiplying by the dtype size
        let h4 = "{" + entry("w", "F64", [Int.max / 4], 0, 4) + "}"
        expectHostile(.badShape, safetensorsBytes(header: h4, data: [0, 0, 0, 0]), mentions: ["overflow"])
    }

    @Test func offsetsBeyondFile() {
        let h = "{" + entry("w", "F32", [2], 0, 8) + "}"
        expectHostile(.outOfBounds, safetensorsBytes(header: h, data: [0, 0, 0, 0]), mentions: ["'w'", "data section of 4 bytes"])
        let h2 = "{" + entry("w", "F32", [1], Int.max - 4, Int.max) + "}"
        expectHostile(.outOfBounds, safetensorsBytes(header: h2, data: [0, 0, 0, 0]))
        let h3 = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}"
        expectHostile(.malformed, safetensorsBytes(header: h3, data: [0, 0, 0, 0]), mentions: ["data_offsets"])
    }

    @Test func overlappingRanges() {
        let h = "{" + entry("a", "F32", [2], 0, 8) + "," + entry("b", "F32", [2], 4, 12) + "}"
        expectHostile(.overlap, safetensorsBytes(header: h, data: [UInt8](repeating: 0, count: 12)), mentions: ["'b'", "'a'"])
    }

    @Test func gapsAndUncoveredBytes() {
        let h = "{" + entry("a", "F32", [1], 4, 8) + "}"
        expectHostile(.gap, safetensorsBytes(header: h, data: [UInt8](repeating: 0, count: 8)), mentions: ["'a'"])
        let h2 = "{" + entry("a", "F32", [1], 0, 4) + "}"
        expectHostile(.gap, safetensorsBytes(header: h2, data: [UInt8](repeating: 0, count: 9)), mentions: ["4 bytes of the 9-byte"])
    }

    @Test func unalignedDataStillReads() throws {
        // a header of odd length puts F32 data at an odd file offset
        let h = "{" + entry("a", "F32", [2], 0, 8) + "} "
        var d = Bytes()
        d.f32(1.5)
        d.f32(-2)
        let dir = ScratchDirectory()
        let path = dir.write("u.safetensors", safetensorsBytes(header: h, data: d.b))
        #expect(try SafeTensorsFile(path: path).floats("a") == [1.5, -2])
    }

    @Test func missingFile() {
        expectIOError(.io) { _ = try SafeTensorsFile(path: "/nonexistent/model.safetensors") }
    }
}
