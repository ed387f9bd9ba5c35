// Helpers shared by the HATIO tests: a scratch directory per test, byte builders for
// hand-made (often hostile) files, and the path of the committed fixtures.

import Foundation
import HATIO

/// A fresh directory under the system temporary directory, removed when the value dies.
final class ScratchDirectory {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "hatio-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = file(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }
}

/// Directory of the committed fixtures (Tests/HATIOTests/Fixtures).
let fixturesPath: String = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path

/// Little-endian byte builder.
struct Bytes {
    var b: [UInt8] = []
    mutating func u8(_ v: UInt8) { b.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func raw(_ s: String) { b += Array(s.utf8) }
    mutating func zeros(_ n: Int) { b += [UInt8](repeating: 0, count: n) }
}

/// A safetensors file from a header string and a data section.
func safetensorsBytes(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
    var out = Bytes()
    let h = Array(header.utf8)
    out.u64(declaredLength ?? UInt64(h.count))
    out.b += h
    out.b += data
    return out.b
}

/// Runs `body`, expecting a HATIOError of `kind`; returns it for further checks.
@discardableResult
func expectIOError(_ kind: HATIOError.Kind, _ body: () throws -> Void) -> HATIOError? {
    do {
        try body()
    } catch let e as HATIOError {
        if e.kind != kind { Issue.record("expected \(kind), got \(e.kind): \(e)") }
        return e
    } catch {
        Issue.record("expected HATIOError \(kind), got \(error)")
        return nil
    }
    Issue.record("expected HATIOError \(kind), nothing was thrown")
    return nil
}

import Testing

/// A hand-built GGUF (little-endian) for hostile-input tests.
struct GGUFBuilder {
    struct Tensor { var name: String; var dims: [UInt64]; var type: UInt32; var offset: UInt64 }
    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var metadata: [(String, (inout Bytes) -> Void)] = []
    var tensors: [Tensor] = []
    var alignment = 32
    var data: [UInt8] = []
    var tensorCountOverride: UInt64? = nil
    var kvCountOverride: UInt64? = nil

    mutating func string(_ key: String, _ value: String) {
        metadata.append((key, { b in b.u32(8); b.u64(UInt64(value.utf8.count)); b.raw(value) }))
    }
    mutating func u32(_ key: String, _ value: UInt32) {
        metadata.append((key, { b in b.u32(4); b.u32(value) }))
    }

    func bytes() -> [UInt8] {
        var b = Bytes()
        b.b += magic
        b.u32(version)
        b.u64(tensorCountOverride ?? UInt64(tensors.count))
        b.u64(kvCountOverride ?? UInt64(metadata.count))
        for (k, write) in metadata {
            b.u64(UInt64(k.utf8.count)); b.raw(k)
            write(&b)
        }
        for t in tensors {
            b.u64(UInt64(t.name.utf8.count)); b.raw(t.name)
            b.u32(UInt32(t.dims.count))
            for d in t.dims { b.u64(d) }
            b.u32(t.type)
            b.u64(t.offset)
        }
        while b.b.count % alignment != 0 { b.u8(0) }
        b.b += data
        return b.b
    }

    /// A valid file: one F32 [2, 4] tensor "w" holding 0…7.
    static func valid() -> GGUFBuilder {
        var g = GGUFBuilder()
        g.string("general.architecture", "test")
        g.tensors = [Tensor(name: "w", dims: [4, 2], type: 0, offset: 0)]
        var d = Bytes()
        for i in 0..<8 { d.f32(Float(i)) }
        g.data = d.b
        return g
    }
}
