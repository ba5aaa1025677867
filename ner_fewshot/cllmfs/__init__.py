"""CLLMFS: the flagship few-shot NER method (LoRA SFT + contrastive + FGM + constrained decoding).

Modules: config (options), prompts (SFT text and token layout), contrastive (InfoNCE), adversarial
(FGM), constrained (logits processor), generation (batched decoding), spans (answers -> spans),
training (SFT loop), method (the FewShotMethod plugin). Heavy imports stay inside the modules.
"""
from .config import CLLMFSConfig

__all__ = ["CLLMFSConfig"]
