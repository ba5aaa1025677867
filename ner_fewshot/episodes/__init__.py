"""Episodes: the Episode / EpisodeSet model (JSONL with a content hash), the samplers, and
Few-NERD's released episode files."""
from .fewnerd import read_fewnerd_episodes, write_fewnerd_episodes
from .model import Episode, EpisodeFileError, EpisodeSet, ImpossibleEpisode
from .samplers import fixed_support, sample_fewnerd, sample_kshot

__all__ = [
    "Episode", "EpisodeFileError", "EpisodeSet", "ImpossibleEpisode",
    "fixed_support", "sample_fewnerd", "sample_kshot",
    "read_fewnerd_episodes", "write_fewnerd_episodes",
]
