// The splitter against golden splits made by hat-splitter 0.1.10
// (scripts/make_splitter_goldens.py → Fixtures/splitter_goldens.json): 288 excerpts in 12 script
// groups plus hand-made hard cases, each with no cap and with caps 8 and 16. Agreement must be 100 %.
import Foundation
import HATText
import Testing

struct GoldenFile: Decodable {
    struct Header: Decodable { var reference: String; var seed: Int; var caps: [String] }
    struct Case: Decodable {
        var id: String
        var group: String
        var source: String
        var text: String
        var lengths: [String: [Int]]
    }
    var header: Header
    var cases: [Case]
}

func loadGoldens() throws -> GoldenFile {
    let url = try #require(Bundle.module.url(forResource: "splitter_goldens", withExtension: "json", subdirectory: "Fixtures"))
    return try JSONDecoder().decode(GoldenFile.self, from: Data(contentsOf: url))
}

/// Shows words with visible spaces and newlines, for failure messages.
func showWords(_ bytes: [UInt8], _ ends: [Int]) -> String {
    var start = 0
    var parts: [String] = []
    for e in ends {
        let w = String(decoding: bytes[start..<e], as: UTF8.self)
        parts.append("[" + w.replacingOccurrences(of: " ", with: "␣").replacingOccurrences(of: "\n", with: "↵") + "]")
        start = e
    }
    return parts.joined()
}

@Suite struct GoldenTests {
    @Test(arguments: ["none", "8", "16"])
    func agreesWithHatSplitter(cap: String) throws {
        let goldens = try loadGoldens()
        #expect(goldens.header.reference == "hat-splitter 0.1.10")
        #expect(goldens.cases.count >= 200 + 40)
        #expect(Set(goldens.cases.map(\.group)).count >= 12)
        let splitter = try WordSplitter(options: SplitterOptions(mode: .hat, maxWordBytes: cap == "none" ? nil : Int(cap)))
        var ends: [Int] = []
        var agree = 0
        var failures: [String] = []
        for c in goldens.cases {
            let bytes = Array(c.text.utf8)
            let lengths = try #require(c.lengths[cap], "\(c.id): no lengths for cap \(cap)")
            var expected: [Int] = []
            var total = 0
            for l in lengths { total += l; expected.append(total) }
            bytes.withUnsafeBufferPointer { splitter.split($0, into: &ends) }
            if ends == expected { agree += 1 } else if failures.count < 3 {
                failures.append("\(c.id) (\(c.source)):\n  expected \(showWords(bytes, expected))\n  found    \(showWords(bytes, ends))")
            }
        }
        #expect(agree == goldens.cases.count, "cap \(cap): \(agree) of \(goldens.cases.count) agree\n\(failures.joined(separator: "\n"))")
    }
}
