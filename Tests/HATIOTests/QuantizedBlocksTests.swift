// The blocks `--weights q8_0|q4_1|q4_k` packs are ggml's: the GGUF reader (GGMLDequantize, written
// from the ggml format description and checked against gguf-py fixtures in GGUFTests) reads them
// back as exactly the numbers PackedMatrix.widenRows widens them to (what every many-row
// product and embedding lookup computes with) — every bit, for every block — and the byte counts
// agree with ggml's block sizes. The other way round, blocks made by
// gguf-py (the quants.gguf fixture: a real Q4_K quantizer's scales and minimums) multiplied by
// the packed kernels — as a GGUF token model held as stored is — equal a Double loop over the
// values the GGUF reader reads.

import HATIO
import HATTensor
import Testing

struct QuantizedBlocksTests {
    @Test(arguments: [(WeightFormat.q8_0, GGMLType.q8_0), (.q4_1, .q4_1), (.q4_k, .q4_K)])
    func theGGUFReaderReadsThePackedBlocksAsTheirValues(format: WeightFormat, type: GGMLType) {
        let rows = 5, cols = 512
        let parameters = ParameterSet([ParameterSpec("w", [rows, cols])])
        var rng = RandomGenerator(seed: 11)
        for i in 0..<parameters.count {
            // Mixed signs, an all-positive stretch and an all-zero block: every branch of the quantizers.
            let x = rng.nextNormal() * 0.05
            parameters.values[i] = i < 256 ? abs(x) : (i < 288 ? 0 : x)
        }
        parameters.packMatrices(format)
        let packed = parameters.packedMatrix("w")!
        #expect(format.bytes(rows: rows, cols: cols) == rows * cols / type.blockSize * type.typeSize)
        let read = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
        let widened = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
        defer { read.deallocate(); widened.deallocate() }
        #expect(GGMLDequantize.run(type, src: packed.data, dst: read, count: rows * cols))
        packed.widenRows(0..<2, into: widened)                        // in two calls: rows start at whole blocks
        packed.widenRows(2..<rows, into: widened + 2 * cols)
        let mismatches = (0..<(rows * cols)).filter { read[$0].bitPattern != widened[$0].bitPattern }
        #expect(mismatches.isEmpty, "\(format.rawValue): \(mismatches.count) values differ, first at \(mismatches.first ?? -1): \(mismatches.first.map { "\(read[$0]) read, \(widened[$0]) widened" } ?? "")")
    }

    @Test(arguments: [(GGMLType.q8_0, WeightFormat.q8_0), (.q4_1, .q4_1), (.q4_K, .q4_k)])
    func blocksFromAGGUFMultiplyAsTheirValues(type: GGMLType, format: WeightFormat) throws {
        let file = try GGUFFile(path: fixturesPath + "/quants.gguf")
        let info = try file.info(type.name)
        #expect(info.type == type)
        let rows = info.rows, cols = info.rowLength
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: rows * info.rowBytes, alignment: 64)
        let values = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
        defer { bytes.deallocate(); values.deallocate() }
        bytes.copyMemory(from: file.file.base! + info.fileRange.lowerBound, byteCount: rows * info.rowBytes)
        try file.dequantize(type.name, into: values, count: rows * cols)
        let w = PackedMatrix(format: format, data: bytes, rows: rows, cols: cols)
        let arena = Arena(name: "gguf blocks test")
        var rng = RandomGenerator(seed: 3)
        for batch in [1, 3, 5] {
            let x = arena.tensor(rows: batch, cols: cols), y = arena.tensor(rows: batch, cols: rows)
            for i in 0..<(batch * cols) { x.data[i] = rng.nextNormal() }
            for kernel in PackedKernel.allCases where kernel.runsHere {
                ComputeContext(threads: 2, packedKernel: kernel).packedProduct(x, w, into: y, accumulate: false)
                for r in 0..<batch {
                    for o in 0..<rows {
                        var sum = 0.0
                        for i in 0..<cols { sum += Double(x.data[r * cols + i]) * Double(values[o * cols + i]) }
                        #expect(abs(Double(y.data[r * rows + o]) - sum) <= 1e-5 * (1 + abs(sum)) * Double(cols).squareRoot(),
                                "\(type.name), \(kernel): row \(r), output \(o): \(y.data[r * rows + o]) against \(sum)")
                    }
                }
            }
        }
    }
}
