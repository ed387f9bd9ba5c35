// HATIO: file formats, independent of the model. Safetensors (read and streaming write),
// GGUF (read, dequantise), Hugging Face checkpoints, f16/bf16 conversions, atomic file
// writes, and the conversion of a pretrained Llama into `backbone.layers.{i}.*` tensors.
// Every reader maps its file and validates every length and offset before it touches them.
