"""Why CLLMFS answers "no entity": its entity/no-entity decision, before and after fit, on one DEV episode.

    python -m benchmarks.dev_cllmfs_explain --dev conll --episode 0 [--option learning_rate=2e-3 ...] [--threads 1]

For every (query sentence, type) prompt of the episode (dev queries, never test) it measures the model's
probability of naming an entity at the decision point, restricted to what constrained decoding allows:
  empty_answer='end':  after the answer prefix, P(first token of " <<<") vs P(first token of " <im_end>");
  empty_answer='none': after " <<<", P(first token of any input word) vs P(first token of " none").
It prints, before training and after `fit` with the given options: the mean of that probability over
prompts with and without a gold entity of their type, the share of prompts where it wins (> 0.5), and
the AUC with which it separates the two groups (0.5 = a global bias, not a per-sentence decision). It
also prints how the paper's SFT loss (the whole answer) splits between the fixed answer prefix and the
rest, before and after training, and the CE curve of the fit.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch


def decision_probabilities(method, episode) -> tuple[np.ndarray, np.ndarray]:
    """(P(entity) per prompt, has-gold-entity per prompt) at the decision point, constrained."""
    from ner_fewshot.cllmfs.prompts import definition_of

    encoder = method.encoder
    model = method.model if method.model is not None else method.base_model
    probabilities, labels = [], []
    for sentence in episode.query:
        for entity_type in episode.label_set:
            prompt = encoder.encode_prompt(sentence.words, entity_type, definition_of(entity_type))
            ids = list(prompt.ids)
            if encoder.none_ids is not None:
                ids += list(encoder.open_ids)
                entity_first = sorted({encoder.word_ids(w)[0] for w in sentence.words})
                empty_first = [encoder.none_ids[0]]
            else:
                entity_first, empty_first = [encoder.open_ids[0]], [encoder.end_ids[0]]
            with torch.no_grad():
                probs = model(input_ids=torch.tensor([ids]), logits_to_keep=1).logits[0, -1].float().softmax(-1)
            entity, empty = float(probs[entity_first].sum()), float(probs[empty_first].sum())
            probabilities.append(entity / (entity + empty))
            labels.append(any(span.label == entity_type.name for span in sentence.spans))
    return np.array(probabilities), np.array(labels)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counted half."""
    positive, negative = scores[labels], scores[~labels]
    if not len(positive) or not len(negative):
        return float("nan")
    greater = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    return float(greater + 0.5 * ties)


def describe(name: str, scores: np.ndarray, labels: np.ndarray) -> str:
    return (f"{name}: mean P(entity) {scores[labels].mean():.3f} with a gold entity vs {scores[~labels].mean():.3f} "
            f"without; entity wins in {100 * (scores > 0.5).mean():.0f}% of {len(scores)} prompts "
            f"({100 * labels.mean():.0f}% have one); AUC {auc(scores, labels):.2f}")


def answer_loss_split(method, support, label_set) -> tuple[float, float]:
    """Summed CE of the paper's target (whole answer) on the support: (fixed prefix part, the rest)."""
    from ner_fewshot.cllmfs.prompts import build_examples

    model = method.model if method.model is not None else method.base_model
    prefix_loss = rest_loss = 0.0
    for example in build_examples(support, label_set):
        encoded = method.encoder.encode_example(example, "answer")
        ids = torch.tensor([encoded.ids])
        with torch.no_grad():
            logprobs = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
        token_loss = -logprobs.gather(1, ids[0, 1:, None])[:, 0]
        start, answer = encoded.prompt.answer_start, len(encoded.prompt.ids)
        prefix_loss += float(token_loss[start - 1 : answer - 1].sum())
        rest_loss += float(token_loss[answer - 1 :].sum())
    return prefix_loss, rest_loss


def main(argv=None) -> None:
    from benchmarks.dev_cllmfs_sweep import dev_episodes, parse_options
    from ner_fewshot import settings
    from ner_fewshot.methods import create_method

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", choices=("conll", "wnut16"), default="conll")
    parser.add_argument("--episode", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=4, help="size of the dev episode set (as in the sweep)")
    parser.add_argument("--query-size", type=int, default=25)
    parser.add_argument("--option", action="append", default=[], help="CLLMFS option=value (repeatable)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    episodes, _ = dev_episodes(args.dev, args.episodes, args.query_size, settings.data_dir(args.data_dir))
    episode = episodes[args.episode]
    options = {"device": "cpu", **parse_options(args.option, "cllmfs")}
    method = create_method("cllmfs", options)
    method.prepare()
    print(f"episode {episode.id}: {len(episode.support)} support, {len(episode.query)} dev query sentences; "
          f"options {options}")
    prefix, rest = answer_loss_split(method, episode.support, episode.label_set)
    print(f"before fit: paper target loss {prefix + rest:.0f} nats, {100 * prefix / (prefix + rest):.0f}% on the fixed "
          f"answer prefix")
    print(describe("before fit", *decision_probabilities(method, episode)))
    method.fit(episode.support, episode.label_set)
    print(f"fit: {len(method.training_log.ce)} steps, CE per step " + " ".join(f"{c:.2f}" for c in method.training_log.ce))
    prefix, rest = answer_loss_split(method, episode.support, episode.label_set)
    print(f"after fit: paper target loss on the support {prefix + rest:.0f} nats, {100 * prefix / (prefix + rest):.0f}% "
          f"on the prefix")
    print(describe("after fit", *decision_probabilities(method, episode)))


if __name__ == "__main__":
    main()
