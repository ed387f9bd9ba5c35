// hat: the command line. One file per subcommand; this file only lists them.

import ArgumentParser

@main
struct HAT: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "hat",
        abstract: "Hierarchical byte-level language models: split, train, evaluate, generate.",
        version: version,
        subcommands: [
            ReplCommand.self,
            Generate.self,
            Train.self,
            Eval.self,
            Info.self,
            Export.self,
            GraftCommand.self,
            Segment.self,
            Bench.self,
            ConvertBackbone.self,
            Perturb.self,
            Robustness.self,
            Report.self,
        ],
        defaultSubcommand: ReplCommand.self
    )
}
