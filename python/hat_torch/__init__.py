"""hat_torch: hat's HAT models in PyTorch — the model as a torch.nn.Module over hat's tensor
names, hat's files (model directories, training runs and checkpoints), hat's data (hat-splitter
words, rows, batches, data order) and a trainer for one process or torchrun (DDP/FSDP) whose
checkpoints `hat train --resume` continues, and the other way round. See README.md, "Training
at scale".
"""

from .config import ConfigError, HATConfig
from .data import PaddedBatch, RunData, WordSplitter, WordStream, batch_of, read_documents, split_documents
from .files import load_model, read_weights, save_model
from .model import HATModel
from .rng import RandomGenerator, training_order

__all__ = ["ConfigError", "HATConfig", "HATModel", "PaddedBatch", "RandomGenerator", "RunData", "WordSplitter",
           "WordStream", "batch_of", "load_model", "read_documents", "read_weights", "save_model", "split_documents",
           "training_order"]
