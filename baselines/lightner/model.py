"""The LightNER network: a frozen BART, three prompt sets, an answer space and BARTNER pointer scoring.

Scores at each decoding step from the decoder state h (dropout on h and on every embedding row used):
    end      = h . E[</s>]
    label l  = h . label_representation_l
    pointer i = h . ((encoder_out_i + E[src_i]) / 2), masked at <s> (position 0), from the first </s>
                on and on padding, as the reference
Index 0 (start) is never a valid output. Decoder inputs map start -> E[<s>], end -> E[</s>],
label -> the label's input vector, pointer -> E[source token at that position].
"""
from __future__ import annotations

import torch
from torch import nn

from .answer_space import AnswerSpace
from .prefix_attention import enable_prefix_attention, prefixes_applied
from .prompts import LightNERPrompts
from .targets import END, FIRST_LABEL, START

MASKED = -1e30  # finite, so that a fully masked row still gives a defined softmax in fp32


class LightNERModel(nn.Module):
    def __init__(self, bart, prompts: LightNERPrompts, bos_id: int, eos_id: int, dropout: float = 0.3) -> None:
        super().__init__()
        bart.requires_grad_(False)
        enable_prefix_attention(bart)
        self.bart = bart
        self.prompts = prompts
        self.bos_id, self.eos_id = bos_id, eos_id
        self.dropout = nn.Dropout(dropout)
        self.answer_space: AnswerSpace | None = None
        self.backbone_train_mode = True

    # -- pieces ---------------------------------------------------------------------------------
    def set_answer_space(self, answer_space: AnswerSpace) -> None:
        self.answer_space = answer_space.to(self.embedding_matrix.device)

    @property
    def embedding_matrix(self) -> torch.Tensor:
        return self.bart.get_input_embeddings().weight

    @property
    def n_labels(self) -> int:
        if self.answer_space is None:
            raise RuntimeError("no answer space: call fit() (or load()) before decoding")
        return len(self.answer_space.names)

    def train(self, mode: bool = True) -> "LightNERModel":
        super().train(mode)
        # The reference trains with BART's own dropout active; `backbone_train_mode=False` turns it off.
        self.bart.train(mode and self.backbone_train_mode)
        return self

    def encode(self, src_ids: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        return self.bart.get_encoder()(input_ids=src_ids, attention_mask=src_mask).last_hidden_state

    def decoder_inputs(self, out_indices: torch.Tensor, src_ids: torch.Tensor) -> torch.Tensor:
        """(B, T) output indices -> (B, T, d) decoder input embeddings."""
        matrix = self.embedding_matrix
        offset = FIRST_LABEL + self.n_labels
        table = torch.cat([matrix[[self.bos_id, self.eos_id]].float(), self.answer_space.input_vectors(matrix)])
        is_pointer = out_indices >= offset
        positions = (out_indices - offset).clamp(0, src_ids.shape[1] - 1)
        pointer_rows = matrix[src_ids.gather(1, positions)].float()
        special_rows = table[out_indices.clamp(0, offset - 1)]
        rows = torch.where(is_pointer.unsqueeze(-1), pointer_rows, special_rows)
        scale = getattr(self.bart.get_input_embeddings(), "embed_scale", 1.0) or 1.0
        return (rows * scale).to(matrix.dtype)

    def decode_states(self, inputs_embeds, encoder_out, src_mask, past_key_values=None, use_cache=False):
        return self.bart.get_decoder()(inputs_embeds=inputs_embeds, encoder_hidden_states=encoder_out,
                                       encoder_attention_mask=src_mask, past_key_values=past_key_values,
                                       use_cache=use_cache)

    def scores(self, hidden: torch.Tensor, encoder_out: torch.Tensor, src_ids: torch.Tensor,
               src_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, d) decoder states -> (B, T, 2 + L + S) fp32 scores over the output space."""
        matrix = self.embedding_matrix
        hidden = self.dropout(hidden.float())
        end_vector = self.dropout(matrix[self.eos_id].float())
        label_vectors = self.answer_space.representations(matrix, row_dropout=self.dropout)
        source_vectors = (encoder_out.float() + self.dropout(matrix[src_ids].float())) / 2
        end = (hidden @ end_vector).unsqueeze(-1)
        labels = hidden @ label_vectors.T
        pointers = torch.einsum("btd,bsd->bts", hidden, source_vectors)
        # Valid pointers: the words' sub-words only. The reference masks <s> (its pointer mask comes from the
        # zero-padded position index, so position 0 always counts as padding), </s> and everything after.
        before_eos = src_ids.eq(self.eos_id).long().cumsum(dim=1).eq(0)
        valid = before_eos & src_mask.bool()
        valid[:, 0] = False
        pointers = pointers.masked_fill(~valid.unsqueeze(1), MASKED)
        start = hidden.new_full((*hidden.shape[:2], 1), MASKED)
        return torch.cat([start, end, labels, pointers], dim=-1)

    # -- training and decoding --------------------------------------------------------------------
    def teacher_forced_scores(self, src_ids, src_mask, targets: torch.Tensor) -> torch.Tensor:
        """Scores for every target step; `targets` (B, T) starts with START, padded with -100."""
        inputs = targets[:, :-1].masked_fill(targets[:, :-1] < 0, END)
        with prefixes_applied(self.bart, self.prompts()):
            encoder_out = self.encode(src_ids, src_mask)
            hidden = self.decode_states(self.decoder_inputs(inputs, src_ids), encoder_out, src_mask).last_hidden_state
        return self.scores(hidden, encoder_out, src_ids, src_mask)

    def loss(self, src_ids, src_mask, targets: torch.Tensor) -> torch.Tensor:
        scores = self.teacher_forced_scores(src_ids, src_mask, targets)
        gold = targets[:, 1:]
        return nn.functional.cross_entropy(scores.reshape(-1, scores.shape[-1]), gold.reshape(-1), ignore_index=-100)

    @torch.no_grad()
    def greedy_decode(self, src_ids, src_mask, max_lengths: list[int], use_cache: bool = True) -> list[list[int]]:
        """Greedy output indices per sentence (without the leading start), as fastNLP's greedy search in
        the reference: `max_lengths[i]` counts the start and the end, so at most max_length - 2 indices are
        chosen freely; if none of them was end, end is then forced. Every output ends with END.

        With `use_cache=False` every step recomputes the whole prefix (slow; used to test the cache path).
        """
        batch = src_ids.shape[0]
        free_steps = [free_decoding_steps(length) for length in max_lengths]
        outputs: list[list[int]] = [[] for _ in range(batch)]
        done = [steps == 0 for steps in free_steps]
        with prefixes_applied(self.bart, self.prompts()):
            encoder_out = self.encode(src_ids, src_mask)
            generated = torch.full((batch, 1), START, dtype=torch.long, device=src_ids.device)
            cache = None
            for _ in range(max(free_steps, default=0)):
                if all(done):
                    break
                step_inputs = generated[:, -1:] if use_cache else generated
                result = self.decode_states(self.decoder_inputs(step_inputs, src_ids), encoder_out, src_mask,
                                            past_key_values=cache, use_cache=use_cache)
                cache = result.past_key_values if use_cache else None
                scores = self.scores(result.last_hidden_state[:, -1:], encoder_out, src_ids, src_mask)[:, 0]
                chosen = scores.argmax(dim=-1)
                for row, index in enumerate(chosen.tolist()):
                    if not done[row]:
                        outputs[row].append(index)
                        done[row] = index == END or len(outputs[row]) >= free_steps[row]
                generated = torch.cat([generated, chosen.unsqueeze(1)], dim=1)
        for output in outputs:
            if not output or output[-1] != END:
                output.append(END)  # the reference's forced end at its last position
        return outputs


def reference_max_length(source_length: int, base: int, ratio: float) -> int:
    """fastNLP's per-sentence limit: int(source sub-words incl. <s> and </s> x ratio) + base, computed in
    float32 like the reference (`(encoder_mask.sum().float() * max_len_a).long() + max_length`)."""
    return int((torch.tensor(float(source_length), dtype=torch.float32) * ratio).long()) + int(base)


def free_decoding_steps(max_length: int) -> int:
    """Indices chosen freely under a limit that counts the start and the forced end. (fastNLP picks one
    index even when max_length <= 2, but its parse then reads nothing: 0 is the same result.)"""
    return max(0, max_length - 2)
