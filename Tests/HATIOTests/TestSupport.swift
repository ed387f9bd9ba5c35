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
