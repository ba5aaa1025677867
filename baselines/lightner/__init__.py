"""LightNER (Chen et al., COLING 2022): prompt-guided attention over a frozen BART, BARTNER pointer decoding.

Modules: `prefix_attention` (how prompts enter BART's attention), `prompts` (the three prompt sets),
`answer_space` (label representations), `targets` (pointer targets <-> spans), `model` (scoring and
decoding), `training` (optimisation loop), `backbone` (loading, parameter counts), `method` (the plugin).
"""
