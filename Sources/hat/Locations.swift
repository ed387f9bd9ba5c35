// Locations: where the command line finds presets (Models/configs/NAME.json) and the shipped
// default model (Models/default), from the current directory or the repository the binary
// was built in, so `swift run hat …` works from anywhere inside the checkout.

import Foundation

enum Locations {
    /// Candidate repository roots: the current directory and its parents, then the parents of
    /// the executable (…/.build/release/hat → repository).
    static var roots: [String] {
        var result: [String] = []
        var directory = FileManager.default.currentDirectoryPath
        for _ in 0..<6 {
            result.append(directory)
            directory = (directory as NSString).deletingLastPathComponent
        }
        var executable = (CommandLine.arguments[0] as NSString).resolvingSymlinksInPath
        for _ in 0..<5 {
            executable = (executable as NSString).deletingLastPathComponent
            result.append(executable)
        }
        return result
    }

    /// A config given as a file path, or as a preset name found in Models/configs.
    static func config(_ nameOrPath: String) throws -> String {
        if FileManager.default.fileExists(atPath: nameOrPath) { return nameOrPath }
        for root in roots {
            let candidate = "\(root)/Models/configs/\(nameOrPath).json"
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        throw CommandError("no config file or preset named '\(nameOrPath)' (presets live in Models/configs/NAME.json)")
    }

    /// The shipped default model directory.
    static func defaultModel() throws -> String {
        for root in roots {
            let candidate = "\(root)/Models/default"
            if FileManager.default.fileExists(atPath: candidate + "/config.json") { return candidate }
        }
        throw CommandError("the default model (Models/default) was not found; pass --model DIR")
    }
}
