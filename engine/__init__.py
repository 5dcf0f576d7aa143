"""The engine: models, training, generation, perplexity and metrics, as a library (no textual).

Two messages about libraries' code, not the user's, are silenced here, narrowly:

- peft 0.21 reads ``model.is_gradient_checkpointing``, which transformers 5 deprecates with a
  FutureWarning on every adapter load;
- bitsandbytes, imported by peft, warns on every CPU with avx512_bf16 that it could not fetch an
  optional 4-bit kernel from the Hub ("please pip install kernels"): the kernel is a download from
  the Hub, which is not there offline, and 4-bit is a GPU option here. Its logger only is set to errors.
"""

import logging
import warnings

warnings.filterwarnings("ignore", message=r".*`is_gradient_checkpointing` is deprecated", category=FutureWarning)
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
