"""Interop of softprompt's Hub cache with Python's huggingface_hub (run by scripts/check-hub-interop.mjs; not CI).

  python check-hub-interop.py read REPO_ID COMMIT       # HF_HUB_OFFLINE=1: find softprompt's download in the cache
  python check-hub-interop.py download REPO_ID          # download from HF_ENDPOINT (the local Hub imitation)

Both read HF_ENDPOINT / HF_HUB_CACHE / HF_HUB_OFFLINE from the environment, as softprompt does.
"""
import json
import os
import sys

from huggingface_hub import hf_hub_download, snapshot_download

FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "spiece.model"]

mode, repo = sys.argv[1], sys.argv[2]
if mode == "read":
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    snap = snapshot_download(repo, local_files_only=True)
    assert os.path.basename(snap) == sys.argv[3], snap
    paths = {f: hf_hub_download(repo, f) for f in FILES}
    from transformers import AutoConfig, AutoTokenizer
    cfg = AutoConfig.from_pretrained(repo)
    tok = AutoTokenizer.from_pretrained(repo)
    print(json.dumps({"snapshot": snap, "model_type": cfg.model_type, "d_model": cfg.d_model, "tokens": tok("hello world").input_ids, "files": sorted(paths)}))
else:
    snap = snapshot_download(repo, allow_patterns=FILES)
    print(json.dumps({"snapshot": snap}))
