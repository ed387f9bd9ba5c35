// BLASCore: which OpenBLAS core a CPU should run (a table of CPUs OpenBLAS 0.3.21 knows and does
// not), and that a variable the user set is always respected.

import HATTensor
import Testing

@Suite struct BLASCoreTests {
    static let emeraldRapids = CPUFeatures(vendor: "GenuineIntel", family: 6, model: 207, avx2: true, avx512: true, avx512bf16: true)
    static let zen4 = CPUFeatures(vendor: "AuthenticAMD", family: 25, model: 17, avx2: true, avx512: true, avx512bf16: true)
    static let skylakeServer = CPUFeatures(vendor: "GenuineIntel", family: 6, model: 85, avx2: true, avx512: true)
    static let zen2 = CPUFeatures(vendor: "AuthenticAMD", family: 23, model: 49, avx2: true)
    static let old = CPUFeatures(vendor: "GenuineIntel", family: 6, model: 23)

    @Test func bestCoreFollowsTheInstructionSets() {
        #expect(BLASCore.best(for: Self.emeraldRapids) == "Cooperlake")
        #expect(BLASCore.best(for: Self.skylakeServer) == "SkylakeX")
        #expect(BLASCore.best(for: Self.zen2) == "Haswell")
        #expect(BLASCore.best(for: Self.old) == nil)
    }

    @Test func aGenericFallbackIsReplacedAndAGoodChoiceKept() {
        // The Intel Xeon OpenBLAS 0.3.21 does not know: Prescott → Cooperlake.
        #expect(BLASCore.replacement(loaded: "Prescott", cpu: Self.emeraldRapids, userSetting: nil) == "Cooperlake")
        // Zen 4, for which OpenBLAS itself picks Cooperlake: kept.
        #expect(BLASCore.replacement(loaded: "Cooperlake", cpu: Self.zen4, userSetting: nil) == nil)
        // Zen 2 gets OpenBLAS's Zen core, which uses the Haswell kernels: kept.
        #expect(BLASCore.replacement(loaded: "Zen", cpu: Self.zen2, userSetting: nil) == nil)
        #expect(BLASCore.replacement(loaded: "Nehalem", cpu: Self.zen2, userSetting: nil) == "Haswell")
        // Nothing better than generic on an old CPU.
        #expect(BLASCore.replacement(loaded: "Core2", cpu: Self.old, userSetting: nil) == nil)
    }

    @Test func aVariableTheUserSetIsRespected() {
        #expect(BLASCore.replacement(loaded: "Prescott", cpu: Self.emeraldRapids, userSetting: "Prescott") == nil)
        #expect(BLASCore.replacement(loaded: "Haswell", cpu: Self.emeraldRapids, userSetting: "Haswell") == nil)
    }

    @Test func thisCPUIsRead() {
        let cpu = CPUFeatures.current
        #expect(!cpu.vendor.isEmpty && cpu.family > 0)
        #expect(!cpu.avx512bf16 || cpu.avx512)
        #expect(!cpu.avx512 || cpu.avx2)
    }
}
