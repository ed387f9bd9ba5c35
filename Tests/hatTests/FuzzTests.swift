// The fuzzer in the suite (issue item 5): 20,000 seeded hostile inputs through the library entry
// points — configs, model directories, safetensors and GGUF files, every flag of every command —
// each ends in a clean error or is accepted, none hangs, and every input kind reaches both
// outcomes (so the mutations exercise the checks and what lies past them); then the real binary
// is probed once per option of every command with "-1", each a clear error or accepted.

import Foundation
@testable import hat_fuzz
import HATTestSupport
import Testing

@Suite(.serialized) struct FuzzTests {
    @Test func twentyThousandHostileInputsEndInCleanErrorsOrAreAccepted() throws {
        let scratch = try TemporaryDirectory("fuzz")
        let counts = try Fuzzer(seed: 2, scratch: scratch.path).run(total: 20_000)
        #expect(counts.values.reduce(0) { $0 + $1.inputs } == 20_000)
        for kind in InputKind.allCases {
            let c = try #require(counts[kind], "\(kind)")
            #expect(c.inputs == c.cleanErrors + c.accepted && c.hangs == 0, "\(kind): \(c)")
            #expect(c.cleanErrors > 0 && c.accepted > 0, "\(kind) should reach both outcomes: \(c)")
        }
    }

    @Test func everyOptionOfEveryCommandIsProbedInTheBinary() throws {
        let scratch = try TemporaryDirectory("probes")
        let commands = try FlagCommand.all(scratch: scratch.path)
        #expect(commands.count >= 17, "\(commands.map(\.path))")
        let (counts, problems) = Probes.run(binary: hatBinary, commands: commands, scratch: scratch.path, values: ["-1"])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        let probes = counts.values.reduce(0) { $0 + $1.probes }
        #expect(probes >= 100 && counts.values.allSatisfy { $0.traps == 0 && $0.hangs == 0 && $0.unclear == 0 })
    }
}
