"""One end-of-text token and a distinct pad token for every tokenizer.

Records are trained and scored as ``line + end-of-text``. The end-of-text token must be a training
target (the model has to learn to stop), so it must never double as padding: padding is masked out of
the loss by the attention mask, and if pad == eos a collator that masks pad ids would mask the stops too.
"""

from __future__ import annotations

from dataclasses import dataclass

PLAIN_EOT = "<|endoftext|>"


@dataclass(frozen=True)
class SpecialTokens:
    eot_id: int
    eot_token: str
    pad_id: int


def configure_tokenizer(tokenizer) -> SpecialTokens:
    """Choose the end-of-text token (``<|endoftext|>`` when the vocab has it, else eos) and a pad != it.

    SmolLM2's eos is the chat token ``<|im_end|>``; for plain language modelling its end of text is
    ``<|endoftext|>`` (id 0). GPT-2 has only ``<|endoftext|>``: then pad gets another existing token
    (never trained on, since labels come from the attention mask) so no embedding resize is needed.
    """
    vocab = tokenizer.get_vocab()
    if PLAIN_EOT in vocab:
        eot_token = PLAIN_EOT
    elif tokenizer.eos_token is not None:
        eot_token = tokenizer.eos_token
    else:
        raise ValueError("tokenizer has neither <|endoftext|> nor an eos token")
    eot_id = vocab[eot_token]
    tokenizer.eos_token = eot_token

    pad_id = tokenizer.pad_token_id
    if pad_id is None or pad_id == eot_id:
        candidates = [tokenizer.unk_token, tokenizer.bos_token, "<|im_end|>", "<pad>", "!"]
        pad_token = next((t for t in candidates if t is not None and t in vocab and vocab[t] != eot_id), None)
        if pad_token is None:
            pad_token = next(t for t, i in vocab.items() if i != eot_id)
        tokenizer.pad_token = pad_token
        pad_id = vocab[pad_token]
    return SpecialTokens(eot_id=eot_id, eot_token=eot_token, pad_id=pad_id)
