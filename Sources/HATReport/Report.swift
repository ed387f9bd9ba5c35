// hat report: commands that write the Markdown reports in Reports/ from saved runs; this file
// lists them (one file per subcommand) and holds what they share.

import ArgumentParser
import Foundation

public struct Report: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        abstract: "Write Markdown reports (with SVG charts) from training runs.",
        subcommands: [
            ReportTrain.self,
            ReportGraft.self,
            ReportDistill.self,
        ]
    )
}

/// A run's NOTES.txt (written by `hat train --resume --steps` and by hand: interruptions, changed
/// schedules) as "`path`:" and a fenced block, or nil when the run has none.
func runNotesBlock(_ runDirectory: String) -> String? {
    let path = runDirectory + "/NOTES.txt"
    guard let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty else { return nil }
    return "`\(path)`:\n\n```\n" + (text.hasSuffix("\n") ? text : text + "\n") + "```\n"
}
