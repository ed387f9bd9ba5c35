// The arena's plan (issue item 5): for any sequence of requests, `Arena.plannedFloats` gives the
// floats handed out exactly and a bound on what is reserved from the system — the number a
// caller checks against the machine's memory before it builds a model — and requests larger
// than a block get blocks of their own without wasting the shared one. An arena replaying
// another hands out the same buffers for the same requests and reserves nothing itself.

import HATTensor
import Testing

@Suite struct ArenaPlan {
    @Test func planEqualsUseAndBoundsReservationForRandomRequests() throws {
        var rng = RandomGenerator(seed: 5)
        for round in 0..<200 {
            let blockFloats = 64 << rng.nextInt(below: 6)
            let arena = Arena(name: "test", blockFloats: blockFloats)
            var requests: [Int?] = []
            for _ in 0..<(1 + rng.nextInt(below: 40)) {
                let count = rng.nextInt(below: 3) == 0 ? rng.nextInt(below: 4 * blockFloats) : rng.nextInt(below: blockFloats / 2 + 1)
                requests.append(count)
                _ = arena.allocate(count: count)
            }
            let plan = try #require(Arena.plannedFloats(requests, blockFloats: blockFloats))
            #expect(plan.used == arena.usedFloats, "round \(round)")
            #expect(plan.reserved * 4 >= arena.reservedBytes, "round \(round): \(plan.reserved * 4) < \(arena.reservedBytes)")
        }
    }

    @Test func aLargeRequestDoesNotCloseTheSharedBlock() {
        let arena = Arena(name: "test", blockFloats: 1024)
        _ = arena.allocate(count: 100)
        _ = arena.allocate(count: 5000)      // its own block
        _ = arena.allocate(count: 100)       // still in the first block
        #expect(arena.reservedBytes == 4 * (1024 + 5008))
    }

    @Test func overflowingRequestsHaveNoPlan() {
        #expect(Arena.plannedFloats([Int.max]) == nil)
        #expect(Arena.plannedFloats([1 << 62, 1 << 62]) == nil)
        #expect(Arena.plannedFloats([nil]) == nil)
        #expect(Arena.plannedFloats([-1]) == nil)
    }

    @Test func aReplayingArenaHandsOutTheSameBuffersAndReservesNothing() {
        let source = Arena(name: "source", blockFloats: 1024)
        let sizes = [100, 5000, 7, 1024, 300]          // small, own block, small, a full block, small
        let original = sizes.map { source.allocate(count: $0) }
        let replay = Arena(name: "replay", replaying: source)
        let again = sizes.map { replay.allocate(count: $0) }
        #expect(again == original)
        #expect(replay.reservedBytes == 0 && replay.usedFloats == 0)
        #expect(Set(original).count == sizes.count, "the source's buffers are distinct")
    }
}
