"""The batched sampling path before the engine's own decoding loop: transformers' ``model.generate``.

Kept only as the bench's baseline (bench/generation_speed.py), so the speed-up is measured side by side
in one run. Same prompts, seeds, warpers, first-token rule and stop rules as the engine: each row draws
from its own generator (a logits processor returning -inf everywhere but the drawn token; a prompt
ending in a space gets a space-led first token, and no row stops before it has text, as
``engine.decode_loop`` for ``generate_samples``), and a stopping criterion
decodes each row's last two tokens to look for a newline. Every row stays in the batch until the
longest one ends.
"""

from __future__ import annotations

from collections.abc import Sequence


def generate_texts(loaded, prompts: Sequence[str], seeds: Sequence[int], config) -> list[tuple[str, int]]:
    """(text, new tokens) per prompt, from one ``model.generate`` call."""
    import torch
    from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

    from tweetsmith.engine.decode_loop import TokenTable, has_line_break, record_start
    from tweetsmith.engine.generate import _prompt_ids, new_text, owes_space
    from tweetsmith.engine.sampling import logits_warpers

    warpers = logits_warpers(config)
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]

    def draw(input_ids, scores):
        stops, blank, spaced = TokenTable.of(loaded.tokenizer, loaded.eot_id, scores.shape[-1])
        if input_ids.shape[1] == width:  # the first new token: the space a prompt ending in one owes
            scores = scores.masked_fill(owed[:, None] & ~spaced[None, :], float("-inf"))
        scores = scores.masked_fill(needs_text[:, None] & stops[None, :], float("-inf"))  # no empty sample
        for warper in warpers:
            scores = warper(input_ids, scores)
        cdf = torch.softmax(scores.double(), dim=-1).cumsum(dim=-1)
        u = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in generators])
        chosen = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True).clamp_(max=scores.shape[-1] - 1)
        needs_text[:] = needs_text & blank[chosen[:, 0]]
        return torch.full_like(scores, float("-inf")).scatter_(1, chosen, 0.0)

    encoded = [_prompt_ids(loaded, p) for p in prompts]
    width = max(len(ids) for ids in encoded)
    owed = torch.tensor([owes_space(p) for p in prompts])
    needs_text = torch.ones(len(prompts), dtype=torch.bool)  # the bench's prompts have no text of their own
    ended: list[int | None] = [None] * len(encoded)

    def starts_a_record(ids) -> bool:
        """The engine's rule: a new record's author tag (``\\\\sama-``) ends the sample; only after a "-"."""
        if "-" not in loaded.tokenizer.decode(ids[-1:], skip_special_tokens=True):
            return False
        return (
            record_start(loaded.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False))
            >= 0
        )

    class EndOfSample(StoppingCriteria):
        def __call__(self, input_ids, scores=None, **kwargs):
            # the last three tokens: a line break such as U+2028 is two tokens here (decode_loop.LINE_BREAKS)
            tails = input_ids[:, max(width, input_ids.shape[1] - 3) :].tolist()
            for row, tail in enumerate(tails):
                if ended[row] is None and (
                    tail[-1] == loaded.eot_id
                    or has_line_break(loaded.tokenizer.decode(tail, skip_special_tokens=True))
                    or starts_a_record(input_ids[row, width:].tolist())
                ):
                    ended[row] = input_ids.shape[1] - width
            return torch.tensor([e is not None for e in ended], dtype=torch.bool)

    input_ids = torch.full((len(encoded), width), loaded.pad_id, dtype=torch.long)
    attention = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, ids in enumerate(encoded):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        attention[row, width - len(ids) :] = 1
    gen_config = GenerationConfig(
        max_new_tokens=config.max_new_tokens, do_sample=False, eos_token_id=loaded.eot_id, pad_token_id=loaded.pad_id
    )
    loaded.model.eval()
    out = loaded.model.generate(
        input_ids=input_ids,
        attention_mask=attention,
        generation_config=gen_config,
        logits_processor=LogitsProcessorList([draw]),
        stopping_criteria=StoppingCriteriaList([EndOfSample()]),
    )
    rows = []
    for row, ids in enumerate(out[:, width:].tolist()):
        n = ended[row] if ended[row] is not None else len(ids)
        rows.append((new_text(loaded.tokenizer, ids[:n], prompts[row]), n))
    return rows
