"""A "TensorRT-LLM v0.5" runtime profile fitted by grid search, to see whether one would close the
GPU issue's TensorRT-LLM rows (docs/gpu.md, "Against published measurements"): host launch per kernel
(`launch_us`), GEMM efficiency per GPU (`mma_efficiency`), a fixed cost per generate call, fitted on
twelve rows of that release (its performance doc's GPT-J-6B and Llama-2-70B TP 4 first tokens on
H100 FP8 and A100 FP16; its blog H100vsA100.md's GPT-J batch-1 decode and batch-64 first token),
the four Llama-2-7B rows held out. Prints the six best fits. Not part of the test suite; the
profile was not adopted. usage: VCHIP=target/release/vchip python3 bench/trtllm_v05_fit.py"""
import json, os, re, subprocess, tempfile
B = os.environ.get("VCHIP", "target/release/vchip")
P = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hwmodels", "presets") + "/"
TMP = tempfile.mkdtemp(prefix="trt-fit-")
# (model, hw, tp, batch, prompt, gen, metric, measured, fam)
cal=[("gpt-j-6b","h100-sxm",1,1,128,0,"ttft",7,"h"),("gpt-j-6b","h100-sxm",1,1,2048,0,"ttft",29,"h"),
     ("llama-2-70b","dgx-h100",4,1,128,0,"ttft",26,"h"),("llama-2-70b","dgx-h100",4,1,2048,0,"ttft",109,"h"),
     ("gpt-j-6b","h100-sxm",1,1,128,128,"tok",185,"h"),("gpt-j-6b","h100-sxm",1,64,128,0,"ttft",102,"h"),
     ("gpt-j-6b","a100-sxm-80gb",1,1,128,0,"ttft",12,"a"),("gpt-j-6b","a100-sxm-80gb",1,1,2048,0,"ttft",129,"a"),
     ("llama-2-70b","dgx-a100",4,1,128,0,"ttft",47,"a"),("llama-2-70b","dgx-a100",4,1,2048,0,"ttft",377,"a"),
     ("gpt-j-6b","a100-sxm-80gb",1,1,128,128,"tok",111,"a"),("gpt-j-6b","a100-sxm-80gb",1,64,128,0,"ttft",481,"a")]
test=[("llama-2-7b","h100-sxm",1,1,128,0,"ttft",7,"h"),("llama-2-7b","h100-sxm",1,1,2048,0,"ttft",36,"h"),
      ("llama-2-7b","a100-sxm-80gb",1,1,128,0,"ttft",16,"a"),("llama-2-7b","a100-sxm-80gb",1,1,2048,0,"ttft",133,"a")]
prec={'h':'fp8;*.attn=f16','a':'f16'}
cache={}
def run(r,eff,L):
    m,hw,tp,b,p,g,met,meas,fam=r
    key=(r,eff,L)
    if key in cache: return cache[key]
    y=open(P+hw+".yaml").read()
    y=re.sub(r"mma_efficiency: [0-9.]+", f"mma_efficiency: {eff}", y)
    y=re.sub(r"launch_us: [0-9.]+ ", f"launch_us: {L} ", y, count=1)
    f=os.path.join(TMP, f"{hw}-{eff}-{L}.yaml"); open(f,"w").write(y)
    args=[B,"simulate",m,"--hw",f,"--tp",str(tp),"--batch",str(b),"--precision",prec[fam],"--format","json","--allow-no-fit"]
    args+= ["--prompt",str(p),"--gen",str(g)] if g else ["--seq",str(p),"--phase","prefill"]
    d=json.loads(subprocess.run(args,capture_output=True,text=True).stdout)
    if g: v=(d['serving']['ttft_s']*1e3, d['serving']['tokens_per_s'])  # (ttft ms, tok/s)
    else: v=(d['totals']['latency_s']*1e3, None)
    cache[key]=v; return v
def pred(r,eff,L,C):
    t,tok=run(r,eff,L)
    if r[6]=="ttft": return t+C
    # tokens/s over gen tokens with the call overhead once
    g=r[5]; e2e=g/tok*1e3  # ms
    return g/((e2e+C)/1e3)
effs=[0.4,0.45,0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.88]
Ls=[10,12.5,15,17.5,20,22.5,25]
Cs=[0,0.25,0.5,1,1.5,2]
res=[]
for L in Ls:
  for C in Cs:
    best={}
    for fam in "ha":
      rows=[r for r in cal if r[8]==fam]
      cands=[]
      for e in effs:
        errs=[pred(r,e,L,C)/r[7]-1 for r in rows]
        cands.append((sum(abs(x) for x in errs)/len(errs),e,errs))
      best[fam]=min(cands)
    tot=(best['h'][0]*6+best['a'][0]*6)/12
    res.append((tot,L,C,best))
res.sort(key=lambda x:x[0])
for tot,L,C,best in res[:6]:
  te=[pred(r,best[r[8]][1],L,C)/r[7]-1 for r in test]
  print("cal %.3f L %g C %g eff_h %.2f eff_a %.2f | cal "%(tot,L,C,best['h'][1],best['a'][1])+" ".join("%+.0f"%(100*x) for x in best['h'][2]+best['a'][2])+" | TEST "+" ".join("%+.0f"%(100*x) for x in te))
