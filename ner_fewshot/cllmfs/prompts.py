"""The SFT text of CLLMFS and how it is laid out into one token sequence.

Text (paper appendix), one example per (sentence, entity type):
  instruction: "Please extract the entity of {type} in the input sentence given below, the entity of
                {type} refers to {definition} in the input sentence."
  input:       the sentence's words joined by single spaces
  output:      "<im_start> I can extract entities for you, the extracted entities are <<< e1 >>> <<< e2 >>> <im_end>"
  empty answer (our choice, explicit): "<im_start> I can extract entities for you, the extracted entities are <im_end>"

Token layout: every piece of text is tokenised as its own segment (" <<<", " word", " >>>", ...) and the
ids are concatenated. The text decodes to exactly the strings above, and the segmentation is the one
constrained decoding allows, so training targets and decoding agree token for token. Segments also
give exact positions: the type-word tokens, each input word's sub-words, and the answer tokens.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..data.types import EntityType, LabelSet, Sentence, Span

ANSWER_PREFIX = "<im_start> I can extract entities for you, the extracted entities are"
OPEN_MARKER, CLOSE_MARKER, END_MARKER = "<<<", ">>>", "<im_end>"
NONE_WORD = "none"  # the entity text of an empty answer when empty_answer="none"
_PLACEHOLDER = "\ue000"  # private-use character: marks where the user content goes in a chat template


def definition_of(entity_type: EntityType, source: str = "label_set") -> str:
    if source == "type_name" or not entity_type.definition.strip():
        return entity_type.natural_name
    return entity_type.definition.strip().rstrip(".")  # the template continues "... in the input sentence."


def instruction_segments(entity_type: EntityType, definition: str) -> list[tuple[str, bool]]:
    """(text, is_type_word) pieces of the instruction, in order."""
    name = entity_type.natural_name
    return [("Please extract the entity of", False), (" " + name, True),
            (" in the input sentence given below, the entity of", False), (" " + name, True),
            (" refers to " + definition + " in the input sentence.", False)]


def instruction_text(entity_type: EntityType, definition: str) -> str:
    return "".join(text for text, _ in instruction_segments(entity_type, definition))


def answer_text(entities: Sequence[str], empty_answer: str = "end") -> str:
    """The answer; with no entity, 'end' closes at once and 'none' names the absence: <<< none >>>."""
    if not entities and empty_answer == "none":
        entities = [NONE_WORD]
    return ANSWER_PREFIX + "".join(f" {OPEN_MARKER} {e} {CLOSE_MARKER}" for e in entities) + f" {END_MARKER}"


@dataclass(frozen=True)
class SFTExample:
    """One (sentence, type) training example; `spans` are the sentence's gold spans of that type."""

    sentence: Sentence
    entity_type: EntityType
    definition: str
    spans: tuple[Span, ...]

    @property
    def instruction(self) -> str:
        return instruction_text(self.entity_type, self.definition)

    @property
    def input(self) -> str:
        return " ".join(self.sentence.words)

    @property
    def output(self) -> str:
        return answer_text([self.sentence.text_of(s) for s in self.spans])


def build_examples(sentences: Sequence[Sentence], label_set: LabelSet, definition_source: str = "label_set",
                   ) -> list[SFTExample]:
    """One example per (sentence, type of the label set), absent types included (empty answer)."""
    examples = []
    for sentence in sentences:
        unknown = sorted(sentence.labels - set(label_set.names))
        if unknown:
            raise ValueError(f"support sentence {sentence.source or sentence.words[:8]} has types {unknown} "
                             f"outside the episode's label set {list(label_set.names)}")
        for entity_type in label_set:
            spans = tuple(s for s in sentence.spans if s.label == entity_type.name)
            examples.append(SFTExample(sentence, entity_type, definition_of(entity_type, definition_source), spans))
    return examples


@dataclass(frozen=True)
class EncodedPrompt:
    """Token ids of the prompt (up to and including the fixed answer prefix) with known positions."""

    ids: tuple[int, ...]
    type_positions: tuple[int, ...]  # tokens of the type words in the instruction
    word_offsets: tuple[tuple[int, int], ...]  # input word i -> [start, end) token positions
    answer_start: int  # first token of the answer (the fixed prefix "<im_start> I can ...")
    shared_length: int = 0  # ids[:shared_length] (frame head + instruction) are the same for every sentence


@dataclass(frozen=True)
class EncodedExample:
    prompt: EncodedPrompt
    ids: tuple[int, ...]  # prompt + answer + eos
    label_mask: tuple[bool, ...]  # which positions carry the CE loss (per `loss_on`)
    spans: tuple[Span, ...]
    words: tuple[str, ...] = ()  # the input sentence


class PromptEncoder:
    """Lays (instruction, input, output) into token ids, segment by segment."""

    def __init__(self, tokenizer, layout: str = "auto", system_prompt: str | None = None,
                 empty_answer: str = "end") -> None:
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no eos token: CLLMFS needs one to end answers")
        self.tokenizer = tokenizer
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if layout == "chat" and not has_template:
            raise ValueError("prompt_layout='chat' but the tokenizer has no chat template; use 'plain' or 'auto'")
        self.layout = ("chat" if has_template else "plain") if layout == "auto" else layout
        self.head, self.tail = self._frame(system_prompt)
        self.open_ids = self.encode(" " + OPEN_MARKER)
        self.close_ids = self.encode(" " + CLOSE_MARKER)
        self.end_ids = self.encode(" " + END_MARKER)
        self.none_ids = self.encode(" " + NONE_WORD) if empty_answer == "none" else None
        self.empty_answer = empty_answer
        self.prefix_ids = self.encode(ANSWER_PREFIX)
        self.eos_id = tokenizer.eos_token_id
        self._word_cache: dict[str, tuple[int, ...]] = {}

    def encode(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def word_ids(self, word: str) -> tuple[int, ...]:
        """Tokens of a word as it appears after a space (inside answers and after the first input word)."""
        if word not in self._word_cache:
            self._word_cache[word] = self.encode(" " + word)
        return self._word_cache[word]

    def _frame(self, system_prompt: str | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Token ids before and after the user content (instruction + newline + sentence)."""
        if self.layout == "chat":
            messages = [{"role": "user", "content": _PLACEHOLDER}]
            if system_prompt is not None:
                messages.insert(0, {"role": "system", "content": system_prompt})
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            head, tail = text.split(_PLACEHOLDER)
            return self.encode(head), self.encode(tail)
        with_specials = self.tokenizer("x")["input_ids"]
        without = self.tokenizer("x", add_special_tokens=False)["input_ids"]
        bos = tuple(with_specials[: len(with_specials) - len(without)]) if with_specials[-len(without):] == without else ()
        return bos + self.encode("### Instruction:\n"), self.encode("\n\n### Response:\n")

    def encode_prompt(self, words: Sequence[str], entity_type: EntityType, definition: str) -> EncodedPrompt:
        ids = list(self.head)
        type_positions: list[int] = []
        for text, is_type in instruction_segments(entity_type, definition):
            piece = self.encode(text)
            if is_type:
                type_positions.extend(range(len(ids), len(ids) + len(piece)))
            ids.extend(piece)
        ids.extend(self.encode("\n\n### Input:\n" if self.layout == "plain" else "\n"))
        shared_length = len(ids)
        offsets = []
        for i, word in enumerate(words):
            piece = self.encode(word) if i == 0 else self.word_ids(word)
            if not piece:
                raise ValueError(f"word {word!r} tokenises to nothing; clean the data (sentence {' '.join(words)[:80]!r})")
            offsets.append((len(ids), len(ids) + len(piece)))
            ids.extend(piece)
        ids.extend(self.tail)
        answer_start = len(ids)
        ids.extend(self.prefix_ids)
        return EncodedPrompt(tuple(ids), tuple(type_positions), tuple(offsets), answer_start, shared_length)

    def answer_ids(self, entities: Sequence[Sequence[str]]) -> tuple[int, ...]:
        """Answer tokens after the fixed prefix: (" <<<" words " >>>")* " <im_end>" eos; with no entity and
        empty_answer='none': " <<<" " none" " >>>" " <im_end>" eos."""
        ids: list[int] = []
        if not entities and self.none_ids is not None:
            return self.open_ids + self.none_ids + self.close_ids + self.end_ids + (self.eos_id,)
        for words in entities:
            ids.extend(self.open_ids)
            for word in words:
                ids.extend(self.word_ids(word))
            ids.extend(self.close_ids)
        return tuple(ids) + self.end_ids + (self.eos_id,)

    def encode_example(self, example: SFTExample, loss_on: str = "response", max_length: int | None = None,
                       ) -> EncodedExample:
        words = example.sentence.words
        prompt = self.encode_prompt(words, example.entity_type, example.definition)
        ids = prompt.ids + self.answer_ids([words[s.start:s.end] for s in example.spans])
        if max_length is not None and len(ids) > max_length:
            raise ValueError(f"SFT example for {example.sentence.source or ' '.join(words)[:60]!r} "
                             f"({example.entity_type.name}) has {len(ids)} tokens > max_length={max_length}; "
                             "raise the `max_length` option")
        # "decisions" starts as "response"; the method then drops the tokens constrained decoding forces
        start = {"response": len(prompt.ids), "decisions": len(prompt.ids), "answer": prompt.answer_start, "all": 1}[loss_on]
        mask = tuple(i >= start for i in range(len(ids)))
        return EncodedExample(prompt, ids, mask, example.spans, tuple(words))
