"""The engine: models, training, generation, perplexity and metrics, as a library (no textual).

peft 0.21 reads ``model.is_gradient_checkpointing``, which transformers 5 deprecates with a
FutureWarning on every adapter load; the message is about peft's code, not the user's, so it is
silenced here, narrowly (that message only).
"""

import warnings

warnings.filterwarnings("ignore", message=r".*`is_gradient_checkpointing` is deprecated", category=FutureWarning)
