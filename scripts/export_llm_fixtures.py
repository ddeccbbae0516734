#!/usr/bin/env python3
"""Regenerate the transformer ONNX fixtures under tests/fixtures/onnx/llm/.

Small models built from a config with random weights by `transformers`, exported the way users
get them, with the weights left out (each initializer keeps its name, type and shape; its data is
marked external in a file that is not shipped, so the fixtures are 15-100 KiB each):

- llama-tiny.optimum.onnx: Hugging Face optimum's `text-generation-with-past` export (inputs
  `past_key_values.N.key/value`, one graph for prefill and decode), and its config.json;
- llama-tiny.genai-int4.onnx: the same weights through onnxruntime-genai's model builder at int4
  (MatMulNBits, GroupQueryAttention, SkipSimplifiedLayerNormalization);
- bert-tiny.optimum.onnx: optimum's `feature-extraction` export of a BERT;
- bert-tiny.ort-fused.onnx: the same after ONNX Runtime's transformer optimizer (Attention,
  EmbedLayerNormalization, SkipLayerNormalization, BiasGelu).

usage (PyPI packages only; onnxruntime-genai 0.11 is the last builder that runs with the
transformers that optimum-onnx 0.1 pins):
    python3 -m venv /tmp/llmvenv && /tmp/llmvenv/bin/pip install torch optimum-onnx onnxruntime \\
        "onnxruntime-genai==0.11.4"
    /tmp/llmvenv/bin/python scripts/export_llm_fixtures.py
Last made with torch 2.15.0, transformers 4.57.6, optimum-onnx 0.1.0, onnxruntime 1.23.x,
onnxruntime-genai 0.11.4.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import onnx
import torch

warnings.filterwarnings("ignore")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx", "llm")

# Llama-architecture: grouped-query attention (8 heads, 4 KV heads, head size 64), SwiGLU MLP.
LLAMA = dict(hidden_size=512, intermediate_size=1376, num_hidden_layers=2, num_attention_heads=8,
             num_key_value_heads=4, vocab_size=2048, max_position_embeddings=4096)
BERT = dict(hidden_size=256, num_hidden_layers=2, num_attention_heads=4, intermediate_size=1024,
            vocab_size=1024, max_position_embeddings=512)


def strip(src, dst):
    """Writes src without its weight data: initializers of 1,024 elements or more become
    external references to a file that is not shipped (small ones, shape constants among them,
    stay)."""
    m = onnx.load(src, load_external_data=False)
    for t in m.graph.initializer:
        n = 1
        for d in t.dims:
            n *= d
        if n < 1024:
            continue
        for field in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
            t.ClearField(field)
        t.data_location = onnx.TensorProto.EXTERNAL
        del t.external_data[:]
        t.external_data.add(key="location", value="weights-not-shipped")
    for node in m.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    onnx.save(m, dst)
    print(f"{dst}: {os.path.getsize(dst)} bytes")


def main():
    from optimum.exporters.onnx import main_export
    from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        llama = os.path.join(tmp, "llama")
        LlamaForCausalLM(LlamaConfig(**LLAMA)).eval().save_pretrained(llama)
        main_export(llama, output=os.path.join(tmp, "llama-onnx"), task="text-generation-with-past", device="cpu")
        strip(os.path.join(tmp, "llama-onnx", "model.onnx"), os.path.join(OUT, "llama-tiny.optimum.onnx"))
        with open(os.path.join(llama, "config.json")) as f:
            config = json.load(f)
        with open(os.path.join(OUT, "llama-tiny.config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")

        # The builder writes model.onnx before it looks for a tokenizer (which this model lacks).
        genai = os.path.join(tmp, "genai")
        subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", llama, "-o", genai,
                        "-p", "int4", "-e", "cpu", "-c", os.path.join(tmp, "cache")], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        strip(os.path.join(genai, "model.onnx"), os.path.join(OUT, "llama-tiny.genai-int4.onnx"))

        bert = os.path.join(tmp, "bert")
        BertModel(BertConfig(**BERT)).eval().save_pretrained(bert)
        main_export(bert, output=os.path.join(tmp, "bert-onnx"), task="feature-extraction", device="cpu")
        plain = os.path.join(tmp, "bert-onnx", "model.onnx")
        strip(plain, os.path.join(OUT, "bert-tiny.optimum.onnx"))
        from onnxruntime.transformers.optimizer import optimize_model

        fused = optimize_model(plain, model_type="bert", num_heads=BERT["num_attention_heads"],
                               hidden_size=BERT["hidden_size"], opt_level=0)
        fused_path = os.path.join(tmp, "bert-fused.onnx")
        fused.save_model_to_file(fused_path)
        strip(fused_path, os.path.join(OUT, "bert-tiny.ort-fused.onnx"))
    shutil.rmtree(os.path.join(OUT, "__pycache__"), ignore_errors=True)


if __name__ == "__main__":
    main()
