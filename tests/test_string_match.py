"""The gazetteer baseline: exact matching, longest first, type votes, persistence."""
from ner_fewshot.data.types import EntityType, LabelSet, Sentence, Span
from ner_fewshot.methods import create_method
from ner_fewshot.methods.string_match import StringMatch, StringMatchConfig

LABELS = LabelSet((EntityType("LOC", ("location",), "places"), EntityType("ORG", ("organization",), "organisations")))


def sentence(text: str, *spans: Span) -> Sentence:
    return Sentence(tuple(text.split()), spans)


SUPPORT = [
    sentence("He flew to New York yesterday", Span(3, 5, "LOC")),
    sentence("York is old", Span(0, 1, "LOC")),
    sentence("New York Times reported it", Span(0, 3, "ORG")),
    sentence("Paris and Paris", Span(0, 1, "LOC"), Span(2, 3, "ORG"), ),
    sentence("Paris again", Span(0, 1, "ORG")),
]


def test_longest_match_wins_and_matches_do_not_overlap():
    method = StringMatch()
    method.fit(SUPPORT, LABELS)
    [spans] = method.predict([sentence("The New York Times said New York and York")])
    assert spans == [Span(1, 4, "ORG"), Span(5, 7, "LOC"), Span(8, 9, "LOC")]


def test_majority_type_and_tie_break_by_label_order():
    method = StringMatch()
    method.fit(SUPPORT, LABELS)
    # "Paris": LOC once, ORG twice -> ORG.
    assert method.predict([sentence("Paris")]) == [[Span(0, 1, "ORG")]]
    method.fit(SUPPORT[:4], LABELS)  # now 1 LOC vs 1 ORG: label-set order decides.
    assert method.predict([sentence("Paris")]) == [[Span(0, 1, "LOC")]]


def test_case_sensitivity_is_an_option():
    strict = StringMatch()
    strict.fit(SUPPORT, LABELS)
    assert strict.predict([sentence("new york")]) == [[]]
    loose = create_method("string-match", {"case_sensitive": False})
    loose.fit(SUPPORT, LABELS)
    assert loose.predict([sentence("new york")]) == [[Span(0, 2, "LOC")]]


def test_fit_resets_between_episodes_and_ignores_other_types():
    method = StringMatch()
    method.fit(SUPPORT, LABELS)
    method.fit([sentence("Berlin", Span(0, 1, "LOC"))], LABELS.subset(["LOC"]))
    assert method.predict([sentence("New York and Berlin")]) == [[Span(3, 4, "LOC")]]


def test_save_and_load_reproduce_predictions(tmp_path):
    method = StringMatch(StringMatchConfig(case_sensitive=False))
    method.fit(SUPPORT, LABELS)
    query = [sentence("the new york times in paris"), sentence("nothing here")]
    method.save(tmp_path)
    reloaded = StringMatch()
    reloaded.load(tmp_path)
    assert reloaded.predict(query) == method.predict(query)
    assert reloaded.config.case_sensitive is False
