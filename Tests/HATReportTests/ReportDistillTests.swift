// hat report distill on a hand-made experiment root: arms are read from their metrics (a line cut
// short by a kill is skipped), held-out evaluations from hat eval's JSON with per-document scores
// (given as loss or as bits per byte), and the report names every arm and model it found.

import Foundation
import HATCommandLine
import HATModel
import HATTestSupport
import Testing
@testable import HATReport

@Suite struct ReportDistillTests {
    static func write(_ text: String, _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func evaluationJSONGivesDocumentsInNatsEitherWay() throws {
        let root = try TemporaryDirectory("report-distill")
        let path = root.file("eval.json")
        try Self.write("""
        {"predicted_bytes": 300, "bytes": 302, "words": 60, "loss_nats": 210.0, "seconds": 1.5,
         "documents": [{"name": "a", "predicted_bytes": 100, "loss_nats": 70.0},
                       {"name": "b", "predicted_bytes": 200, "bits_per_byte": 1.0}]}
        """, path)
        let result = try ReportDistill.readEvaluation(path)
        #expect(result.predictedBytes == 300 && result.words == 60 && result.lossNats == 210)
        let documents = try #require(result.documents)
        #expect(documents.map(\.name) == ["a", "b"])
        #expect(documents[0].lossNats == 70)
        #expect(abs(documents[1].lossNats - 200 * log(2)) < 1e-9, "1 bit per byte over 200 bytes is 200 ln 2 nats")

        try Self.write("{\"bits_per_byte\": 2}", path)
        #expect(throws: CommandError.self) { try ReportDistill.readEvaluation(path) }
    }

    @Test func reportListsArmsAndEvaluatedModels() throws {
        let root = try TemporaryDirectory("report-distill")
        try Self.write("""
        {"split": "train", "step": 1, "bytes_seen": 900, "loss": 5.0, "bits_per_byte": 7.2}
        {"split": "validation", "step": 1, "bytes_seen": 900, "bits_per_byte": 6.5, "oracle_bits_per_byte": 6.0, "teacher_bits_per_byte": 1.1}
        {"split": "train", "step": 2, "byt
        """, root.file("distilled/metrics.jsonl"))
        try Self.write("100.0 190.0 4.0\n50.0 95.0 2.0\n", root.file("distilled/time.txt"))
        for (model, nats) in [("teacher", 10.0), ("distilled", 40.0)] {
            try Self.write("""
            {"predicted_bytes": 20, "bytes": 20, "words": 4, "loss_nats": \(nats),
             "documents": [{"name": "x", "predicted_bytes": 10, "loss_nats": \(nats / 2)},
                           {"name": "y", "predicted_bytes": 10, "loss_nats": \(nats / 2)}]}
            """, root.file("eval/\(model)--prose.json"))
        }
        let arm = try #require(try ReportDistill.readArm(root: root.path, key: "distilled", label: "distilled"))
        #expect(arm.metrics.count == 2, "the cut line is skipped")
        #expect(arm.wallSeconds == 150 && arm.cpuSeconds == 291)
        #expect(try ReportDistill.readArm(root: root.path, key: "plain", label: "plain") == nil)

        var command = try ReportDistill.parse([root.path, "--out", root.file("report/graft.md"), "--sets", "prose"])
        try command.run()
        let markdown = try String(contentsOfFile: root.file("report/graft.md"), encoding: .utf8)
        #expect(markdown.contains("SmolLM2-135M (teacher, tokens)"))
        #expect(markdown.contains("(a) distilled"))
        #expect(markdown.contains("6.500"), "the last validation bits per byte")
        #expect(FileManager.default.fileExists(atPath: root.file("report/graft-smollm2-validation.svg")))
    }
}
