"""Causal-LM loss without the full logits: the output head and cross-entropy in chunks of tokens.

With a 49-50k vocabulary the logits dominate training memory: 8 x 1024 tokens x 49,152 x 4 bytes is
1.6 GB per fp32 copy, and the usual loss keeps several (the logits, their fp32 upcast, the
log-probabilities, and in the backward their gradients). Here the last hidden states go through the
head ``chunk_tokens`` at a time; each chunk's logits live only inside a checkpointed function, so the
backward recomputes one chunk's logits at a time. The value equals the model's own loss (mean negative
log-likelihood over the label tokens that are not -100, labels shifted by one); the cost is one more
head matmul per token in the backward.

Used for training on CUDA by default (``--loss auto``; ``--loss chunked`` anywhere), where the memory it frees buys a larger
micro-batch; liger-kernel's fused linear cross-entropy does the same in Triton but needs a GPU stack
this project cannot test here.
"""

from __future__ import annotations

DEFAULT_CHUNK_TOKENS = 1024


def backbone_and_head(model):
    """(the transformer returning last hidden states, the output head) of a causal LM, LoRA-wrapped or not."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = getattr(inner, inner.base_model_prefix, None)
    head = inner.get_output_embeddings()
    if backbone is None or head is None:
        raise ValueError(f"{type(inner).__name__}: no backbone/head pair for the chunked loss")
    return backbone, head


def chunked_nll_sum(
    model, input_ids, labels, attention_mask=None, *, chunk_tokens: int = DEFAULT_CHUNK_TOKENS, position_ids=None
):
    """(summed next-token NLL over ``labels != -100``, the number of those tokens); sum / count equals
    ``model(input_ids, labels=labels).loss``."""
    import torch
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint

    backbone, head = backbone_and_head(model)
    kwargs = {k: v for k, v in (("attention_mask", attention_mask), ("position_ids", position_ids)) if v is not None}
    hidden = backbone(input_ids=input_ids, **kwargs).last_hidden_state[:, :-1, :]
    targets = labels[:, 1:]
    hidden = hidden.reshape(-1, hidden.shape[-1])
    targets = targets.reshape(-1)
    keep = targets != -100
    hidden, targets = hidden[keep], targets[keep]
    count = targets.numel()

    def chunk_nll(h, t):
        return F.cross_entropy(head(h).float(), t, reduction="sum")

    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, count, chunk_tokens):
        h, t = hidden[start : start + chunk_tokens], targets[start : start + chunk_tokens]
        total = total + checkpoint(chunk_nll, h, t, use_reentrant=False)
    return total, count


def chunked_causal_lm_loss(model, input_ids, labels, attention_mask=None, *, chunk_tokens: int = DEFAULT_CHUNK_TOKENS):
    """Mean next-token NLL over ``labels != -100``, equal to ``model(input_ids, labels=labels).loss``."""
    total, count = chunked_nll_sum(model, input_ids, labels, attention_mask, chunk_tokens=chunk_tokens)
    return total / max(count, 1)
