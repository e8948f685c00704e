#!/usr/bin/env bash
# Turns the raw files bench/gpu/run.sh leaves in OUT into the markdown table of
# bench/gpu/RESULTS.md (numbers, targets and verdicts; the analysis is written by hand).
#   bench/gpu/report.sh OUT > table.md
set -euo pipefail
OUT=${1:?directory written by bench/gpu/run.sh}
for f in gpus.txt images.txt model_only.txt decode.txt pipeline.txt enrich.txt; do
  [ -s "$OUT/$f" ] || { echo "report: $OUT/$f is missing or empty" >&2; exit 1; }
done
# value FILE KEY...: the last field of the line whose first fields are KEY...
mo() { awk -v n="$1" -v m="$2" '$1 == n && $2 == m { v = $3 } END { print v }' "$OUT/model_only.txt"; }
pipe() { awk -v m="$1" '$1 == "resnet50_random" && $2 == m { v = $3 } END { print v }' "$OUT/pipeline.txt"; }
rate() { awk -v l="$1" '$1 == l { for (i = 2; i <= NF; i++) if ($i ~ /^rate=/) v = substr($i, 6) } END { print v }' "$OUT/enrich.txt"; }
fmt() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else printf "%.0f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.0f", 100 * a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { if (r == "n/a") print "not measured"; else print (r >= t) ? "met" : "**MISSED**" }'; }

gpus=$(wc -l <"$OUT/gpus.txt")
name=$(head -1 "$OUT/gpus.txt" | cut -d, -f2 | sed 's/^ //')
a32=$(mo resnet50_random fp32); a16=$(mo resnet50_random fp16cl)
d=$(awk 'NR == 1 { print $1 }' "$OUT/decode.txt")
b=$(pipe plain); bd=$(pipe draft)
c16=$(rate r50_fp16_1gpu); c32=$(rate r50_fp32_1gpu); ccpu=$(rate r50_fp16_cpudecode_1gpu)
con=$(rate r50_fp16_on_1gpu); cnp=$(rate r50_fp16_nopipeline_1gpu); c512=$(rate r50_fp16_b512_1gpu)
cb64=$(rate r50_fp16_block64_1gpu)
cagain=$(rate r50_fp16_again_1gpu); cx5=$(rate r50_fp16_x5_1gpu); conx5=$(rate r50_fp16_on_x5_1gpu)
c2w=$(rate r50_fp16_2w_1gpu); c2wx5=$(rate r50_fp16_2w_x5_1gpu); c2wonx5=$(rate r50_fp16_2w_on_x5_1gpu)
cm=$(rate "r50_fp16_${gpus}gpu"); cmx5=$(rate "r50_fp16_x5_${gpus}gpu"); cmonx5=$(rate "r50_fp16_on_x5_${gpus}gpu")
ceil=$(awk -v a="$a16" -v d="$d" 'BEGIN { print (a < d) ? a : d }')
x_b=$(ratio "$c16" "$b"); p_ceil=$(pct "$c16" "$ceil"); scale=$(ratio "$cm" "$c16"); scale5=$(ratio "$cmx5" "$cx5"); scaleon=$(ratio "$cmonx5" "$conx5")
# verdicts on the unrounded ratios
raw() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.6f", a / b }'; }
need=$(awk -v g="$gpus" 'BEGIN { print 3.5 * g / 4 }')

cat <<MD
| ResNet-50 on ${gpus} × ${name} | images/s |
|---|---:|
| (a) model only, batch on the GPU, fp32 / fp16 + channels_last | $(fmt "$a32") / $(fmt "$a16") |
| (b) pilot-style Python pipeline / with PIL draft decoding | $(fmt "$b") / $(fmt "$bd") |
| (d) nvJPEG decode ceiling (torchvision, batched, with resize) | $(fmt "$d") |
| (c) ours, 1 worker, fp16 / fp32 (GPU and CPU threads share the JPEGs, pipelined, batch 256) | $(fmt "$c16") / $(fmt "$c32") |
| (c) variants, fp16: GPU decodes every JPEG (on) / not pipelined / batch 512 / CPU threads decode all / nvJPEG blocks of 64 | $(fmt "$con") / $(fmt "$cnp") / $(fmt "$c512") / $(fmt "$ccpu") / $(fmt "$cb64") |
| (c) fp16 again, at the end of the run / on 5 × as many images / the same with on | $(fmt "$cagain") / $(fmt "$cx5") / $(fmt "$conx5") |
| (c) ours, 2 workers on one GPU (8 threads each), fp16: N / 5 × N / 5 × N with on | $(fmt "$c2w") / $(fmt "$c2wx5") / $(fmt "$c2wonx5") |
| (c) ours, ${gpus} workers, one per GPU, fp16 | $(fmt "$cm") (${scale}x one GPU) |
| (c) ours, ${gpus} workers, fp16, on 5 × as many images / the same with on | $(fmt "$cmx5") (${scale5}x one GPU on as many) / $(fmt "$cmonx5") (${scaleon}x) |

| target | measured | verdict |
|---|---|---|
| (c) ≥ 10 × (b) | ${x_b}x | $(verdict "$(raw "$c16" "$b")" 10) |
| the same with 2 workers on the GPU | $(ratio "$c2w" "$b")x | $(verdict "$(raw "$c2w" "$b")" 10) |
| (c) ≥ 70 % of min((a) fp16, (d)) = $(fmt "$ceil") | ${p_ceil} % | $(verdict "$(raw "$c16" "$ceil")" 0.7) |
| ${gpus} workers ≥ ${need}x one (the 4-GPU target, 3.5x, per GPU), N images | ${scale}x | $(verdict "$(raw "$cm" "$c16")" "$need") |
| the same on 5 × N images | ${scale5}x | $(verdict "$(raw "$cmx5" "$cx5")" "$need") |
| the same with on | ${scaleon}x | $(verdict "$(raw "$cmonx5" "$conx5")" "$need") |

Images: $(cat "$OUT/images.txt"). MobileNetV2 top-1 agreement: $(tr '\n' ';' <"$OUT/agreement.txt" 2>/dev/null | sed 's/;$//').
MD
