// The blocks `--weights q8_0|q4_1|q4_k` packs are ggml's: the GGUF reader (GGMLDequantize, written
// from the ggml format description and checked against gguf-py fixtures in GGUFTests) reads them
// back as exactly the float32 values ParameterSet.packMatrices leaves — every bit, for every
// block — and the byte counts agree with ggml's block sizes.

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
        defer { read.deallocate() }
        #expect(GGMLDequantize.run(type, src: packed.data, dst: read, count: rows * cols))
        let mismatches = (0..<(rows * cols)).filter { read[$0].bitPattern != parameters.values[$0].bitPattern }
        #expect(mismatches.isEmpty, "\(format.rawValue): \(mismatches.count) values differ, first at \(mismatches.first ?? -1): \(mismatches.first.map { "\(read[$0]) read, \(parameters.values[$0]) packed" } ?? "")")
    }
}
