// ModelLayout: the one description of where a HAT model's tensors live (ARCHITECTURE.md §3): the
// names and prefixes of every part and which decoder layers cross-attend. `parameterSpecs`, the
// training model (`HierarchicalModel`, `DecoderLayer`), its memory plan and the generation session
// (`GenerationSession`) all build from it, so they cannot disagree.

public enum ModelLayout {
    public static let byteEmbedding = "encoder.embedding_layer.weight"
    /// Encoder block `i` (a Llama block).
    public static func encoderBlock(_ i: Int) -> String { "encoder.layers.\(i)" }
    public static let latentQuery = "encoder_connector.latent_query"
    /// The pooling cross-attention (word queries over their bytes).
    public static let pooling = "encoder_connector.cross_attention_encoder_connector"
    /// Backbone block `i` (Hugging Face's `model.layers.{i}` names below it).
    public static func backboneBlock(_ i: Int) -> String { "backbone.layers.\(i)" }
    public static let firstWordEmbedding = "decoder_connector.first_word_embedding"
    /// Decoder layer `i`: its cross-attention parts (when it has them) and its block.
    public static func decoderLayer(_ i: Int) -> String { "decoder.decoder_layers.\(i)" }
    /// Decoder layer `i`'s Llama block.
    public static func decoderBlock(_ i: Int) -> String { decoderLayer(i) + ".llama_layer" }
    public static let finalNorm = "layer_norm.weight"
    public static let head = "lm_head.weight"

    /// Whether decoder layer `i` cross-attends to the predictive vectors: layer 0 always, the
    /// others only with `cross_attn_every_layer: true`.
    public static func decoderCrossAttends(_ i: Int, config: HATConfig) -> Bool {
        i == 0 || config.decoderConfig.crossAttnEveryLayer == true
    }
}
