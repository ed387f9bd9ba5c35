// BLASCore: which OpenBLAS kernel family ("core") this CPU should run. OpenBLAS 0.3.21 picks a
// core from the CPU's family and model when it loads; a CPU it does not know (e.g. Intel family 6
// model 207) gets its generic Prescott kernels, about 5× slower than the AVX-512 ones the CPU
// can run. From CPUID: AVX-512 F/BW/DQ/VL → SkylakeX, with AVX512-BF16 → Cooperlake, AVX2 + FMA
// → Haswell. OpenBLAS reads OPENBLAS_CORETYPE only when it loads, so the command line re-executes
// itself once with the better core set (hat/HAT.swift); a variable the user set is respected.

import CCPU

/// What the processor can do (CPUID and XGETBV).
public struct CPUFeatures: Equatable, Sendable {
    public var vendor: String
    public var family: Int
    public var model: Int
    /// AVX2 and FMA, and the OS saves YMM registers.
    public var avx2: Bool
    /// AVX-512 F, BW, DQ and VL, and the OS saves ZMM registers.
    public var avx512: Bool
    public var avx512bf16: Bool

    public init(vendor: String = "", family: Int = 0, model: Int = 0, avx2: Bool = false, avx512: Bool = false,
                avx512bf16: Bool = false) {
        self.vendor = vendor
        self.family = family
        self.model = model
        self.avx2 = avx2
        self.avx512 = avx512
        self.avx512bf16 = avx512bf16
    }

    /// The processor this process runs on.
    public static let current: CPUFeatures = {
        var raw = hat_cpu_features()
        hat_cpu_read(&raw)
        let vendor = withUnsafeBytes(of: raw.vendor) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        let avx2 = raw.avx2 != 0 && raw.fma != 0 && raw.osAVX != 0
        let avx512 = raw.avx512f != 0 && raw.avx512bw != 0 && raw.avx512dq != 0 && raw.avx512vl != 0 && raw.osAVX512 != 0
        return CPUFeatures(vendor: vendor, family: Int(raw.family), model: Int(raw.model), avx2: avx2, avx512: avx512,
                           avx512bf16: avx512 && raw.avx512bf16 != 0)
    }()

    public var description: String {
        let isa = avx512bf16 ? "AVX-512 with BF16" : avx512 ? "AVX-512" : avx2 ? "AVX2" : "no AVX2"
        return "\(vendor) family \(family) model \(model), \(isa)"
    }
}

public enum BLASCore {
    /// The best OpenBLAS 0.3.21 core these features allow, or nil when none beats the generic one.
    public static func best(for cpu: CPUFeatures) -> String? {
        if cpu.avx512bf16 { return "Cooperlake" }
        if cpu.avx512 { return "SkylakeX" }
        if cpu.avx2 { return "Haswell" }
        return nil
    }

    /// Order of the x86-64 cores by the instructions their kernels use (higher is better);
    /// unknown names count as generic.
    public static func rank(_ core: String) -> Int {
        switch core.lowercased() {
        case "sapphirerapids": return 5
        case "cooperlake": return 4
        case "skylakex": return 3
        case "haswell", "zen": return 2
        case "sandybridge": return 1
        default: return 0
        }
    }

    /// The core to restart with, or nil to keep the one loaded: only when the user did not set
    /// OPENBLAS_CORETYPE and the loaded core is below what the CPU can run.
    public static func replacement(loaded: String, cpu: CPUFeatures, userSetting: String?) -> String? {
        guard userSetting == nil, let best = best(for: cpu), rank(best) > rank(loaded) else { return nil }
        return best
    }

    /// Set (by the command line) to the core OpenBLAS picked before hat chose a better one.
    public static let replacedVariable = "HAT_OPENBLAS_PICKED"

    /// "Cooperlake (chosen by hat; OpenBLAS alone picked Prescott for …)", or how the core came to be.
    public static func provenance(environment: [String: String]) -> String {
        let core = BLAS.coreName
        if let picked = environment[replacedVariable] {
            return "\(core) (chosen by hat for \(CPUFeatures.current.description); OpenBLAS alone picked \(picked))"
        }
        if let set = environment["OPENBLAS_CORETYPE"] { return "\(core) (OPENBLAS_CORETYPE=\(set))" }
        return "\(core) (picked by OpenBLAS for \(CPUFeatures.current.description))"
    }
}
