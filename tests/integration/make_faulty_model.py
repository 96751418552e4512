"""Writes <repository>/faulty/1/model.pt: the given export wrapped so that its
forward raises for bright images, for the server's INTERNAL-error test.

usage: make_faulty_model.py SOURCE_MODEL_PT REPOSITORY
"""
import json
import sys
from pathlib import Path
from typing import Dict

import torch


class Faulty(torch.nn.Module):
    def __init__(self, inner: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        if bool(x.max() > 1.9):
            raise RuntimeError("faulty model: refuses bright images")
        return self.inner(x)


def main() -> None:
    source, repository = sys.argv[1], Path(sys.argv[2])
    extra = {"gcnserve.json": ""}
    inner = torch.jit.load(source, _extra_files=extra)
    meta = json.loads(extra["gcnserve.json"])
    meta["name"] = "faulty"
    out = repository / "faulty" / "1"
    out.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(Faulty(inner)), str(out / "model.pt"),
                   _extra_files={"gcnserve.json": json.dumps(meta)})
    print(out / "model.pt")


if __name__ == "__main__":
    main()
