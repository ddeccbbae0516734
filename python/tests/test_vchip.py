"""The Python package against the command line: same totals, same messages, batches that keep
each candidate's identity. Run with the CLI binary named by $VCHIP (CI builds it first)."""

import json
import os
import random
import subprocess
import threading

import pyarrow as pa
import pytest

import vchip

VCHIP = os.environ.get("VCHIP", "vchip")
OFA_KS = (3, 5, 7)
OFA_E = (3, 4, 6)
OFA_D = (2, 3, 4)
RESOLUTIONS = (160, 176, 192, 208, 224)


def cli(*args):
    return subprocess.run([VCHIP, *args], capture_output=True, text=True)


def cli_json(*args):
    p = cli(*args, "--format", "json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def cli_error(*args):
    """The CLI's message for a rejected input (after `error: `)."""
    p = cli(*args)
    assert p.returncode == 1, p.stdout
    assert p.stderr.startswith("error: "), p.stderr
    return p.stderr[len("error: "):].strip()


def random_arch(rng):
    return {
        "ks": [rng.choice(OFA_KS) for _ in range(20)],
        "e": [rng.choice(OFA_E) for _ in range(20)],
        "d": [rng.choice(OFA_D) for _ in range(5)],
        "r": [rng.choice(RESOLUTIONS)],
    }


# --- same totals as the command line -------------------------------------------------------

OFA_SPEC = "ofa-mbv3:r=224:d=34234:ks=35735735735735735735:e=34634634634634634634"
NB201_SPEC = "nasbench201:cifar10:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"

TOTALS = ["latency_s", "cycles", "energy_j", "utilization", "macs", "dram_read_bytes", "dram_write_bytes"]


@pytest.mark.parametrize(
    "model,hw,opts,flags",
    [
        ("resnet50", "tpu-v1", {"batch": 8}, ["--batch", "8"]),
        ("mobilenet_v2", "edge-tpu-like", {}, []),
        ("resnet8", "nucleo-l4r5zi", {"lib": "cmsis-nn"}, ["--lib", "cmsis-nn"]),
        ("bert-base", "tpu-v1", {"seq": 128, "precision": "int8"}, ["--seq", "128", "--precision", "int8"]),
        ("resnet50", "tpu-v1", {"fusion": "off"}, ["--fusion", "off"]),
        ("llama-2-7b", "a100-sxm-80gb", {"seq": 128, "phase": "decode"}, ["--seq", "128", "--phase", "decode"]),
        ("mixtral-8x7b", "dgx-h100", {"seq": 64, "phase": "prefill", "tp": 8, "expert_parallel": True},
         ["--seq", "64", "--phase", "prefill", "--tp", "8", "--expert-parallel"]),
        # Search spaces are costed from traces without names; the rows come back named.
        (OFA_SPEC, "edge-tpu-like", {}, []),
        (NB201_SPEC, "tpu-v1", {}, []),
        # Their conv-BN pairs are folded as built only where the fold pass would run.
        (OFA_SPEC, "edge-tpu-like", {"fusion": "off"}, ["--fusion", "off"]),
        (OFA_SPEC, "nucleo-h7a3zi-q", {"allow_no_fit": True}, ["--allow-no-fit"]),
        # A precision rule matches op names: such a query is traced with them.
        (OFA_SPEC, "tpu-v1", {"precision": "f32;op*=int8"}, ["--precision", "f32;op*=int8"]),
    ],
)
def test_simulate_matches_the_cli(model, hw, opts, flags):
    r = vchip.simulate(model, hw, **opts)
    want_all = cli_json("simulate", model, "--hw", hw, *flags)
    want = want_all["totals"]
    for k in TOTALS:
        assert getattr(r, k) == want[k], k
    assert r.power_w == want["average_power_w"]
    assert r.samples_per_s == want["samples_per_s"]
    # The full JSON is the CLI's, less what names the command line.
    mine = r.to_dict()
    assert mine["totals"] == want
    assert [s["ops"] for s in mine["steps"]] == [s["ops"] for s in want_all["steps"]]
    steps = r.steps()
    assert len(steps) == len(mine["steps"])
    assert int(steps["cycles"].sum()) == r.cycles
    layers = r.layers()
    assert int(layers["macs"].sum()) == r.macs


def test_serving_figures_match_the_cli():
    r = vchip.simulate("llama-2-7b", "a100-sxm-80gb", prompt=512, gen=32, batch=4)
    want = cli_json("simulate", "llama-2-7b", "--hw", "a100-sxm-80gb", "--prompt", "512", "--gen", "32", "--batch", "4")
    assert r.serving == want["serving"]
    assert r.serving["ttft_s"] > 0 and r.serving["tpot_s"] > 0


def test_trace_matches_the_cli():
    for model, opts, flags in [
        ("resnet50", {}, []),
        ("ofa-mbv3:r=160:d=23423", {"batch": 2}, ["--batch", "2"]),
        ("llama-2-7b", {"seq": 64, "phase": "prefill"}, ["--seq", "64", "--phase", "prefill"]),
    ]:
        t = vchip.trace(model, **opts)
        want = cli_json("trace", model, *flags)["totals"]
        assert (t.ops, t.macs, t.flops, t.params, t.weight_bytes) == (
            want["ops"], want["macs"], want["flops"], want["params"], want["weight_bytes"]
        )
        ops = t.ops_table()
        assert len(ops) == t.ops and int(ops["macs"].sum()) == t.macs


def test_known_network_figures():
    # ResNet-50: 25,557,032 parameters, 4.09 GMACs at 224x224 (torchvision).
    t = vchip.trace("resnet50")
    assert t.params == 25_557_032
    assert t.macs == 4_089_184_256


def test_hardware_overrides_equal_the_same_yaml_on_the_cli(tmp_path):
    hw = {"preset": "tpu-v1", "systolic.rows": 128, "systolic.cols": 128, "dram.bandwidth_gb_s": 68}
    path = tmp_path / "hw.yaml"
    path.write_text(vchip.hardware_yaml(hw))
    r = vchip.simulate("resnet50", hw)
    want = cli_json("simulate", "resnet50", "--hw", str(path))["totals"]
    assert (r.latency_s, r.energy_j) == (want["latency_s"], want["energy_j"])
    assert r.latency_s != vchip.simulate("resnet50", "tpu-v1").latency_s
    # A YAML path works as the hardware too.
    assert vchip.simulate("resnet50", path).latency_s == r.latency_s


def test_arch_dicts_are_the_spec_strings():
    rng = random.Random(7)
    arch = random_arch(rng)
    spec = vchip.arch_spec(arch)
    assert spec.startswith("ofa-mbv3:r=")
    assert vchip.simulate(arch, "edge-tpu-like").latency_s == vchip.simulate(spec, "edge-tpu-like").latency_s
    res = {"d": [0, 1, 2, 0, 1], "e": [0.25] * 18, "w": [2, 1, 0, 1, 2, 0], "r": [192]}
    assert vchip.arch_spec(res) == "ofa-resnet50:r=192:d=01201:e=" + "1" * 18 + ":w=210120"


def test_arch_dicts_of_plain_ints_convert_in_rust_as_in_python():
    from vchip import _vchip

    rng = random.Random(11)
    for _ in range(200):
        arch = random_arch(rng)
        assert _vchip.ofa_spec(arch) == vchip.arch_spec(arch)
        flat = dict(arch, r=arch["r"][0])
        assert _vchip.ofa_spec(flat) == vchip.arch_spec(flat)
    # Anything else is left to the Python conversion and its checks.
    arch = random_arch(rng)
    for odd in (dict(arch, ks=[True] * 20), dict(arch, r=[224.0]), dict(arch, ks=tuple(arch["ks"])),
                dict(arch, e=[13] + arch["e"][1:]), dict(arch, extra=1), dict(arch, r=[224, 192])):
        assert _vchip.ofa_spec(odd) is None
    with pytest.raises(vchip.VchipError, match="single digits"):
        vchip.simulate(dict(arch, e=[13] + arch["e"][1:]), "edge-tpu-like")


# --- batches keep each candidate's identity -------------------------------------------------


def test_simulate_many_keeps_order_and_identity():
    rng = random.Random(1)
    archs = [random_arch(rng) for _ in range(60)]
    specs = [vchip.arch_spec(a) for a in archs]
    ids = [f"cand-{i}" for i in range(len(archs))]
    df = vchip.simulate_many(archs, "edge-tpu-like", ids=ids)
    assert list(df["index"]) == list(range(len(archs)))
    assert list(df["id"]) == ids
    assert list(df["model"]) == specs
    # Every row is its own subnet's figure, not a neighbour's.
    for i in rng.sample(range(len(archs)), 15):
        one = vchip.simulate(specs[i], "edge-tpu-like")
        assert df["latency_s"][i] == one.latency_s, i
        assert df["macs"][i] == one.macs, i
    # Reversed input, reversed rows: nothing is sorted behind the caller's back.
    back = vchip.simulate_many(archs[::-1], "edge-tpu-like", ids=ids[::-1])
    assert list(back["id"]) == ids[::-1]
    assert list(back["latency_s"]) == list(df["latency_s"])[::-1]


def test_simulate_many_ids_of_any_type_and_outputs():
    models = ["resnet50", "mobilenet_v2", "resnet50"]
    df = vchip.simulate_many(models, "tpu-v1", ids=[10, 20, 30])
    assert list(df["id"]) == [10, 20, 30]
    assert df["latency_s"][0] == df["latency_s"][2]
    t = vchip.simulate_many(models, "tpu-v1", output="arrow")
    assert isinstance(t, pa.Table) and t.num_rows == 3
    assert t.column("id").to_pylist() == models
    with pytest.raises(vchip.VchipError, match="3 models"):
        vchip.simulate_many(models, "tpu-v1", ids=[1])


def test_simulate_many_reports_no_fit_as_a_row():
    df = vchip.simulate_many(["resnet8", "resnet50"], "nucleo-l4r5zi")
    assert list(df["fits"]) == [True, False]
    with pytest.raises(vchip.VchipError, match="does not fit"):
        vchip.simulate_many(["resnet8", "resnet50"], "nucleo-l4r5zi", allow_no_fit=False)


def test_polars_output():
    pl = pytest.importorskip("polars")
    df = vchip.simulate("resnet50", "tpu-v1").steps(output="polars")
    assert isinstance(df, pl.DataFrame) and df.height > 0


def test_sweep_rows_keep_the_spec_as_given():
    rng = random.Random(3)
    specs = [vchip.arch_spec(random_arch(rng)) for _ in range(5)]
    df = vchip.sweep(specs, "tpu-v1", set={"clock_mhz": [700, 1400]})
    assert len(df) == 10
    for _, row in df.iterrows():
        assert row["model"] == specs[row["model_index"]]
    base = df[df["clock_mhz"] == 700]
    for k, spec in enumerate(specs):
        assert base[base["model_index"] == k]["latency_s"].iloc[0] == vchip.simulate(spec, "tpu-v1").latency_s


def test_table_models_one_row_per_model(tmp_path):
    models = ["resnet50", "ofa-mbv3:r=160:d=22222", "resnet50"]
    df = vchip.table("models", "tpu-v1", models=models, output_dir=str(tmp_path / "t"))
    assert list(df["model"]) == models
    assert (tmp_path / "t" / "models.parquet").exists()
    assert df["latency_s"][1] == vchip.simulate(models[1], "tpu-v1").latency_s


def test_nasbench201_table_through_the_package(tmp_path):
    df = vchip.table("nasbench201", "edge-tpu-like", output_dir=str(tmp_path / "nb"))
    assert len(df) == 15625 * 3
    hw = json.loads((tmp_path / "nb" / "hwnasbench201.json").read_text())
    assert len(hw["nasbench201"]["cifar10"]["edge-tpu-like_latency"]) == 15625


# --- errors: Python exceptions with the command line's messages -----------------------------


@pytest.mark.parametrize(
    "call,argv",
    [
        (lambda: vchip.simulate("resnet5O", "tpu-v1"), ["simulate", "resnet5O", "--hw", "tpu-v1"]),
        (lambda: vchip.simulate("resnet50", "tpu-v9"), ["simulate", "resnet50", "--hw", "tpu-v9"]),
        (lambda: vchip.simulate("resnet50", "tpu-v1", precision="int3"), ["simulate", "resnet50", "--hw", "tpu-v1", "--precision", "int3"]),
        (lambda: vchip.simulate("resnet50", "tpu-v1", batch=0), ["simulate", "resnet50", "--hw", "tpu-v1", "--batch", "0"]),
        (lambda: vchip.simulate("llama-2-7b", "tpu-v1", tp=2), ["simulate", "llama-2-7b", "--hw", "tpu-v1", "--tp", "2"]),
        (lambda: vchip.simulate("resnet50", "nucleo-l4r5zi"), ["simulate", "resnet50", "--hw", "nucleo-l4r5zi"]),
        (lambda: vchip.simulate("llama-2-70b", "a100-sxm-80gb", gen=8), ["simulate", "llama-2-70b", "--hw", "a100-sxm-80gb", "--gen", "8"]),
        (lambda: vchip.simulate("resnet50", "tpu-v1", lib="cmsis-nn"), ["simulate", "resnet50", "--hw", "tpu-v1", "--lib", "cmsis-nn"]),
        (lambda: vchip.simulate("ofa-mbv3:r=224:d=55555", "tpu-v1"), ["simulate", "ofa-mbv3:r=224:d=55555", "--hw", "tpu-v1"]),
        # A shape error while tracing names its op, as the CLI's does.
        (lambda: vchip.simulate(OFA_SPEC, "tpu-v1", batch=10**9), ["simulate", OFA_SPEC, "--hw", "tpu-v1", "--batch", "1000000000"]),
        # Does not fit the board's flash: the message names what is live, as the CLI's does.
        (lambda: vchip.simulate(OFA_SPEC, "nucleo-h7a3zi-q"), ["simulate", OFA_SPEC, "--hw", "nucleo-h7a3zi-q"]),
        (lambda: vchip.simulate("llama-2-7b", "a100-sxm-80gb", precision="fp8"), ["simulate", "llama-2-7b", "--hw", "a100-sxm-80gb", "--precision", "fp8"]),
    ],
)
def test_errors_carry_the_cli_message(call, argv):
    with pytest.raises(vchip.VchipError) as e:
        call()
    assert str(e.value) == cli_error(*argv)


def test_bad_files_raise_with_the_cli_message(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("kind: systolic\nsystolic: {rows: -4}\n")
    with pytest.raises(vchip.VchipError) as e:
        vchip.simulate("resnet50", bad_yaml)
    assert str(e.value) == cli_error("simulate", "resnet50", "--hw", str(bad_yaml))
    bad_onnx = tmp_path / "bad.onnx"
    bad_onnx.write_bytes(b"\x08\x07\x12\x04garbage")
    with pytest.raises(vchip.VchipError) as e:
        vchip.trace(bad_onnx)
    assert str(e.value) == cli_error("trace", str(bad_onnx))
    with pytest.raises(vchip.VchipError) as e:
        vchip.simulate("resnet50", {"preset": "tpu-v1", "systolic.nonsense": 3})
    assert "systolic.nonsense" in str(e.value)


def test_option_mistakes_raise():
    with pytest.raises(TypeError, match="unknown option `batchsize`"):
        vchip.simulate("resnet50", "tpu-v1", batchsize=8)
    with pytest.raises(TypeError, match="batch"):
        vchip.simulate("resnet50", "tpu-v1", batch="eight")
    with pytest.raises(vchip.VchipError):
        vchip.simulate("resnet50", {"systolic.rows": 8})
    with pytest.raises(vchip.VchipError, match="arch dict"):
        vchip.simulate({"ks": [3] * 20}, "tpu-v1")
    with pytest.raises(vchip.VchipError, match="unknown search space"):
        vchip.table("nas-bench-301", "tpu-v1")
    with pytest.raises(vchip.VchipError):
        vchip.sweep("resnet50", "tpu-v1", set={"systolic.rows": "many"})


def test_the_gil_is_released_while_simulating():
    # Another Python thread runs while a batch is costed in Rust.
    rng = random.Random(5)
    archs = [random_arch(rng) for _ in range(400)]
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(1)
            done.wait(0.001)

    t = threading.Thread(target=tick)
    t.start()
    vchip.simulate_many(archs, "edge-tpu-like")
    done.set()
    t.join()
    assert len(ticks) > 5


def test_version_and_listings():
    assert vchip.__version__
    assert "tpu-v1" in vchip.presets()
    assert any(name == "resnet50" for name, _ in vchip.zoo())


# --- review findings, kept fixed ------------------------------------------------------------


def test_sweep_engine_switches_reach_the_command_line():
    on = vchip.sweep("mobilenet_v2", "edge-tpu-like", set={"systolic.rows": [32, 64]})
    off = vchip.sweep("mobilenet_v2", "edge-tpu-like", set={"systolic.rows": [32, 64]}, fusion=False)
    off_text = vchip.sweep("mobilenet_v2", "edge-tpu-like", set={"systolic.rows": [32, 64]}, fusion="off")
    assert list(off["cycles"]) == list(off_text["cycles"])
    assert list(off["cycles"]) != list(on["cycles"])
    assert off["cycles"][0] == vchip.simulate("mobilenet_v2", {"preset": "edge-tpu-like", "systolic.rows": 32}, fusion=False).cycles
    with pytest.raises(TypeError, match="gen"):
        vchip.sweep("resnet50", "tpu-v1", set={"clock_mhz": [700]}, gen=4)


def test_bools_are_not_counts():
    for opt in ("batch", "tp", "seq", "gen"):
        with pytest.raises(TypeError, match=opt):
            vchip.simulate("llama-2-7b", "a100-sxm-80gb", **{opt: True})
    with pytest.raises(TypeError, match="fusion"):
        vchip.simulate("resnet50", "tpu-v1", fusion=1)


def test_range_errors_read_as_the_cli_reads_them():
    # clap's usage errors exit 2; the message's first line is what Python raises.
    for opt, flag, value in [("tp", "--tp", 2048), ("gen", "--gen", 0)]:
        with pytest.raises(vchip.VchipError) as e:
            vchip.simulate("llama-2-7b", "dgx-h100", **{opt: value})
        p = cli("simulate", "llama-2-7b", "--hw", "dgx-h100", flag, str(value))
        assert p.returncode == 2
        assert str(e.value) == p.stderr.splitlines()[0][len("error: "):]


def test_one_model_is_one_row():
    df = vchip.simulate_many("resnet8", "tpu-v1")
    assert list(df["model"]) == ["resnet8"]


def test_ids_keep_their_python_types():
    ids = ["a", 1, None, (1, 2)]
    df = vchip.simulate_many(["resnet8"] * 4, "tpu-v1", ids=ids)
    assert list(df["id"]) == ids
    with pytest.raises(vchip.VchipError, match="pandas"):
        vchip.simulate_many(["resnet8"] * 2, "tpu-v1", ids=["a", 1], output="arrow")


def test_arch_resolutions_are_whole_numbers():
    arch = {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5}
    for bad in (191.7, [float("nan")], "224", True):
        with pytest.raises(vchip.VchipError, match="'r'"):
            vchip.arch_spec({**arch, "r": bad})
    np = pytest.importorskip("numpy")
    assert vchip.arch_spec({**arch, "r": np.array([224])}) == vchip.arch_spec({**arch, "r": [224]})


def test_the_first_failing_model_is_the_one_named():
    for _ in range(20):
        with pytest.raises(vchip.VchipError, match=r"^model 0 \(`nosuch0`\)"):
            vchip.simulate_many([f"nosuch{i}" for i in range(8)], "tpu-v1")


def test_options_a_model_cannot_use_warn():
    with pytest.warns(UserWarning, match="do\\(es\\) not apply"):
        vchip.simulate("resnet50", "tpu-v1", seq=64)


def test_tables_record_the_command_that_made_them(tmp_path):
    out = tmp_path / "t"
    vchip.table("models", {"preset": "tpu-v1", "systolic.rows": 64}, models=["resnet8"], output_dir=str(out))
    manifest = json.loads((out / "vchip-table.json").read_text())
    assert manifest["command"][:3] == ["vchip", "table", "models"]
    assert "rows: 64" in manifest["hardware_yaml"]


def test_concurrent_tables_leave_one_whole_table(tmp_path):
    out = tmp_path / "same"
    errors = []

    def build():
        try:
            vchip.table("models", "tpu-v1", models=["resnet8", "resnet50"], output_dir=str(out))
        except vchip.VchipError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) < 4, errors
    assert (out / "networks.parquet").exists() and (out / "vchip-table.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".same.")]


def test_nasbench201_index_errors_name_the_range():
    with pytest.raises(vchip.VchipError, match="0..=15624"):
        vchip.simulate("nasbench201:cifar10:-1", "tpu-v1")
    with pytest.raises(vchip.VchipError, match="do not apply to nasbench201"):
        vchip.table("nasbench201", "tpu-v1", resolutions=[32])
