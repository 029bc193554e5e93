"""Hostile .pt files through POST /api/weights: each is a 400 naming the problem, and nothing in
the file runs (a sentinel file the payload would create is never created).

The files are made with plain pickle and zipfile (tests/ptfiles.py), no torch needed: a
`__reduce__` to os.system, builtins.eval and subprocess.Popen, a GLOBAL nested in a dict, a
persistent id naming a member outside the archive or a missing one, a tensor reaching past its
storage, a zip bomb, and the bounds (members, pickle size, tensor count)."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from ptfiles import Ref, archive, glob, pt_file, state_dict_pickle

from app.main import app

client = TestClient(app)


def post(data: bytes, name: str = "model.pt"):
    return client.post("/api/weights", files={"file": (name, io.BytesIO(data))})


def refused(data: bytes, *fragments: str, name: str = "model.pt") -> str:
    r = post(data, name)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    message = detail if isinstance(detail, str) else str(detail)
    for fragment in fragments:
        assert fragment in message, message
    return message


class System:
    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


class Eval:
    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (eval, (f"open({str(self.sentinel)!r}, 'w')",))


class Popen:
    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (subprocess.Popen, (["touch", str(self.sentinel)],))


PAYLOADS = {
    "os.system": (System, f"{os.system.__module__}.system"),
    "builtins.eval": (Eval, "builtins.eval"),
    "subprocess.Popen": (Popen, "subprocess.Popen"),
}


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
@pytest.mark.parametrize("where", ["top", "nested in the state_dict"])
def test_a_pickle_calling_code_is_refused_by_name_and_nothing_runs(
    tmp_path: Path, payload: str, where: str
) -> None:
    cls, named = PAYLOADS[payload]
    sentinel = tmp_path / "sentinel"
    evil = cls(sentinel)
    obj = evil if where == "top" else OrderedDict(weight_ih_l0={"inner": [evil]})
    before = sorted(tmp_path.iterdir())
    message = refused(archive(pickle.dumps(obj, protocol=2), {}), named, "can run code")
    assert "nothing in the file was run" in message
    assert not sentinel.exists()
    assert sorted(tmp_path.iterdir()) == before


def test_the_same_payload_in_a_legacy_pickle_is_refused_without_unpickling(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    refused(pickle.dumps(System(sentinel), protocol=2), "older", "torch.save(")
    assert not sentinel.exists()


def test_a_global_nested_inside_a_tensors_arguments_is_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    hooks = pickle.dumps(System(sentinel), protocol=2)[2:-1]  # the payload's opcodes alone
    pkl = state_dict_pickle({"weight_ih_l0": Ref("0", (2,), (1,)), "x": hooks})
    refused(archive(pkl, {"0": bytes(8)}), f"{os.system.__module__}.system")
    assert not sentinel.exists()


def test_a_persistent_id_naming_a_member_outside_the_archive_is_refused() -> None:
    pkl = state_dict_pickle({"weight_ih_l0": Ref("../../etc/passwd", (2,), (1,))})
    refused(archive(pkl, {"0": bytes(8)}), "'../../etc/passwd'", "storage")


def test_a_persistent_id_naming_a_missing_member_is_refused() -> None:
    pkl = state_dict_pickle({"weight_ih_l0": Ref("7", (2,), (1,))})
    refused(archive(pkl, {"0": bytes(8)}), "'archive/data/7'", "not in the archive")


def test_a_persistent_id_that_is_not_a_storage_is_refused() -> None:
    pkl = b"\x80\x02" + b"(X\x04\x00\x00\x00evilq\x00tQ."  # ('evil',) as a persistent id
    refused(archive(pkl, {}), "persistent id", "'evil'")


def test_a_tensor_reaching_past_its_storage_is_refused() -> None:
    big = Ref("0", (100,), (1,), numel=4)
    refused(archive(state_dict_pickle({"w": big}), {"0": bytes(16)}), "'w'", "past", "4")
    shifted = Ref("0", (4,), (1,), offset=3, numel=4)
    refused(archive(state_dict_pickle({"w": shifted}), {"0": bytes(16)}), "'w'", "offset 3")


def test_a_storage_member_of_the_wrong_size_is_refused() -> None:
    pkl = state_dict_pickle({"w": Ref("0", (4,), (1,))})
    refused(archive(pkl, {"0": bytes(8)}), "'archive/data/0'", "8 bytes", "16")


def test_a_negative_stride_or_offset_is_refused() -> None:
    pkl = state_dict_pickle({"w": Ref("0", (2,), (-1,), offset=1, numel=2)})
    refused(archive(pkl, {"0": bytes(8)}), "'w'", "stride")


def test_a_zip_bomb_is_refused_by_its_ratio_before_it_is_inflated() -> None:
    pkl = state_dict_pickle({"w": Ref("0", (2,), (1,))})
    bomb = archive(pkl, {"0": bytes(8)}, extra={"archive/data/9": bytes(8 * 2**20)},
                   compress=zipfile.ZIP_DEFLATED)  # fmt: skip
    assert len(bomb) < 64 * 2**10
    refused(bomb, "'archive/data/9'", "zip bomb")


def test_too_many_members_are_refused() -> None:
    extra = {f"archive/data/{i}": b"" for i in range(5000)}
    refused(archive(state_dict_pickle({}), {}, extra=extra), "members", "4112")


def test_a_huge_pickle_is_refused_before_it_is_read() -> None:
    pkl = b"\x80\x02X" + (3 * 2**20).to_bytes(4, "little") + bytes(3 * 2**20) + b"."
    refused(archive(pkl, {}, compress=zipfile.ZIP_DEFLATED), "data.pkl", "2097152")


def test_too_many_tensors_are_refused() -> None:
    refs = {f"t{i}": Ref("0", (1,), (1,), numel=1) for i in range(4097)}
    refused(archive(state_dict_pickle(refs), {"0": bytes(4)}), "tensors", "4096")


def test_an_opcode_torch_never_writes_is_refused_by_name() -> None:
    pkl = pickle.dumps(OrderedDict(a=1), protocol=4)  # FRAME, STACK_GLOBAL, MEMOIZE
    refused(archive(pkl, {}), "opcode FRAME", "protocol 2")


def test_build_on_a_rebuild_function_is_refused() -> None:
    pkl = (
        b"\x80\x02" + glob("torch._utils", "_rebuild_tensor_v2") + b"}X\x01\x00\x00\x00a" + b"Nsb."
    )
    refused(archive(pkl, {}), "BUILD")


def test_a_whole_pickled_module_is_refused_with_the_one_line_fix() -> None:
    pkl = b"\x80\x02" + glob("__main__", "CharLM") + b")\x81."  # CharLM.__new__(CharLM)
    refused(archive(pkl, {}), "__main__.CharLM", "torch.save(model.state_dict(), path)")


def test_a_torchscript_module_is_refused_as_such() -> None:
    pkl = b"\x80\x02" + glob("__torch__.torch.nn.modules.rnn", "LSTM") + b")\x81."
    refused(archive(pkl, {}), "TorchScript module (torch.jit.save)", "model.state_dict()")


def test_a_well_formed_file_next_to_them_opens() -> None:
    rng = np.random.default_rng(0)
    arrays = {"lstm.weight_ih_l0": rng.standard_normal((8, 3)),
              "lstm.weight_hh_l0": rng.standard_normal((8, 2))}  # fmt: skip
    r = post(pt_file(arrays))
    assert r.status_code == 200, r.text
    got = r.json()["weights"]
    np.testing.assert_array_equal(
        got["weight_hh_l0"], arrays["lstm.weight_hh_l0"].astype(np.float32)
    )


def test_the_char_lm_state_dict_uploads_and_traces_to_torchs_numbers() -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "import"
    r = post((fixtures / "torch_char_lm.pt").read_bytes(), "torch_char_lm.pt")
    assert r.status_code == 200, r.text
    with np.load(fixtures / "torch_char_lm_expected.npz", allow_pickle=False) as z:
        fx = {k: z[k] for k in z.files}
    body = {"model": r.json(), "input": {"tokens": fx["tokens"].tolist()}}
    answer = client.post("/api/trace", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    for k in (0, 1):
        layer = data["layers"][k]
        for gate in "ifgo":
            np.testing.assert_allclose(layer["gates"][gate], fx[f"l{k}_{gate}"], 1e-10, 1e-12)
        np.testing.assert_allclose(layer["c"], fx[f"l{k}_c"], 1e-10, 1e-12)
        np.testing.assert_allclose(layer["h"], fx[f"l{k}_h"], 1e-10, 1e-12)
    np.testing.assert_allclose(data["outputs"], fx["logits"], 1e-10, 1e-12)


def test_the_upload_field_offers_pt_files() -> None:
    page = client.get("/").text
    assert 'accept=".pt,.pth,' in page
