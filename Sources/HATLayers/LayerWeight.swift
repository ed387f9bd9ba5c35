// LayerWeight: the matrix a layer multiplies or looks rows up in, held one of two ways — float32
// (trainable: the parameters' own values) or packed for inference only (`--weights bf16|q8_0|…`,
// ParameterSet.packMatrices released its float32 values). A layer takes whichever the parameters
// hold when it is made.

import HATTensor

public enum LayerWeight {
    case float32(Tensor)
    case packed(PackedMatrix)

    /// The matrix `name` as `parameters` hold it.
    public init(parameters: ParameterSet, name: String) {
        if let packed = parameters.packedMatrix(name) { self = .packed(packed) } else { self = .float32(parameters.value(name)) }
    }

    /// The float32 matrix, or a stop naming the layer and the packed format: a backward over
    /// packed weights is a caller's error (they are for inference only).
    @discardableResult
    func requireFloat32(in layer: String) -> Tensor {
        switch self {
        case .float32(let weight): return weight
        case .packed(let packed):
            preconditionFailure("\(layer): the weight is held packed (\(packed.format.rawValue)), for inference only")
        }
    }
}
