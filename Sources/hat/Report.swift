// hat report: commands that write the Markdown reports in Reports/ from saved runs; this file
// only lists them (one file per subcommand).

import ArgumentParser

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write Markdown reports (with SVG charts) from training runs.",
        subcommands: [
            ReportTrain.self,
            ReportGraft.self,
        ]
    )
}
