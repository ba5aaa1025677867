"""The plugin registry: entry-point discovery, in-process registration, configs with help text."""
import dataclasses
import sys
import textwrap

import pytest

from ner_fewshot.methods import (
    ENTRY_POINT_GROUP,
    FewShotMethod,
    MethodConfig,
    UnknownMethod,
    available_methods,
    create_method,
    get_method_class,
)

BUILT_IN = ["cllmfs", "lightner", "nnshot", "protobert", "string-match", "structshot"]


def test_built_in_methods_are_registered_by_entry_point():
    assert set(BUILT_IN) <= set(available_methods())


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_method_loads_and_documents_every_option(name):
    cls = get_method_class(name)
    assert issubclass(cls, FewShotMethod) and cls.name == name
    assert issubclass(cls.config_class, MethodConfig)
    for option_name, _type, _default, help_text in cls.config_class.describe():
        assert help_text.strip(), f"{name}: option {option_name!r} has no help text"
    cls.config_class()  # defaults must construct


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(UnknownMethod) as error:
        get_method_class("protobret")
    assert "protobert" in str(error.value)


def test_unknown_option_is_an_error_naming_valid_options():
    with pytest.raises(ValueError, match="case_sensitive"):
        create_method("string-match", {"case_sensitiv": False})


def test_choices_are_validated():
    from ner_fewshot.methods import option

    @dataclasses.dataclass
    class Config(MethodConfig):
        distance: str = option("euclidean", help="Distance.", choices=("euclidean", "dot"))

    with pytest.raises(ValueError, match="not one of"):
        Config(distance="cosine")


def test_installed_package_plugs_in_through_the_entry_point_group(tmp_path, monkeypatch):
    """A distribution on sys.path with an entry point in our group is found without edits here."""
    package = tmp_path / "my_ner_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from ner_fewshot.methods import FewShotMethod, MethodConfig, ParameterCounts, option
        from ner_fewshot.data.types import Span

        @dataclass
        class FirstWordConfig(MethodConfig):
            label: str = option("", help="Type to give every first word ('' = first type of the episode).")

        class FirstWord(FewShotMethod):
            name = "first-word"
            config_class = FirstWordConfig
            def fit(self, support, label_set):
                self.label = self.config.label or label_set.names[0]
            def predict(self, sentences):
                return [[Span(0, 1, self.label)] for _ in sentences]
            def parameter_counts(self):
                return ParameterCounts(0, 0)
    '''))
    dist_info = tmp_path / "my_ner_plugin-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-ner-plugin\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nfirst-word = my_ner_plugin:FirstWord\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_ner_plugin", raising=False)

    assert "first-word" in available_methods()
    from ner_fewshot.data.types import EntityType, LabelSet, Sentence, Span

    method = create_method("first-word", {"label": "LOC"})
    method.fit([], LabelSet((EntityType("LOC", ("location",), "places"),)))
    assert method.predict([Sentence(("Paris", "is", "nice"))]) == [[Span(0, 1, "LOC")]]


def test_a_boolean_option_never_accepts_a_string():
    with pytest.raises(ValueError, match="true or false"):
        create_method("string-match", {"case_sensitive": "False"})
