"""The Few-NERD prototype baselines: ProtoBERT, NNShot and StructShot (Ding et al., ACL 2021).

One token encoder (`encoder`), one scoring module (`distance`), one decoder (`viterbi`), optional
episodic meta-training (`metatrain`), and the three registered methods (`methods`).
"""
