#!/usr/bin/env bash
# Fetch the official SAM 2.1 and SAM 3 weight files into this folder. Needs internet; segkit itself never downloads.
#
#   checkpoints/download.sh                          # the eight SAM 2.1 files
#   checkpoints/download.sh sam2                     # Meta's four (sam2-* backends)
#   checkpoints/download.sh ultralytics              # Ultralytics' four (ultralytics-sam2.1-* backends)
#   checkpoints/download.sh sam2-large ultralytics-sam2.1-b   # by backend name
#   HF_TOKEN=hf_... checkpoints/download.sh sam3     # SAM 3's sam3.pt (sam3, ultralytics-sam3): gated on
#                                                    # Hugging Face, the token's account needs access
#
# Files already here are kept. Each download goes to <file>.part first, so an interrupted one never
# leaves a truncated checkpoint under the real name.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
meta="https://dl.fbaipublicfiles.com/segment_anything_2/092824"
ultralytics="https://github.com/ultralytics/assets/releases/download/v8.3.0"
huggingface="https://huggingface.co/facebook/sam3/resolve/main"

url_of() {  # backend name -> official URL
    case "$1" in
        sam2-tiny) echo "$meta/sam2.1_hiera_tiny.pt" ;;
        sam2-small) echo "$meta/sam2.1_hiera_small.pt" ;;
        sam2-base-plus | sam2-b+) echo "$meta/sam2.1_hiera_base_plus.pt" ;;
        sam2-large) echo "$meta/sam2.1_hiera_large.pt" ;;
        ultralytics-sam2.1-t) echo "$ultralytics/sam2.1_t.pt" ;;
        ultralytics-sam2.1-s) echo "$ultralytics/sam2.1_s.pt" ;;
        ultralytics-sam2.1-b) echo "$ultralytics/sam2.1_b.pt" ;;
        ultralytics-sam2.1-l) echo "$ultralytics/sam2.1_l.pt" ;;
        sam3 | ultralytics-sam3) echo "$huggingface/sam3.pt" ;;
        *) return 1 ;;
    esac
}

sam2_backends="sam2-tiny sam2-small sam2-base-plus sam2-large"
ultralytics_backends="ultralytics-sam2.1-t ultralytics-sam2.1-s ultralytics-sam2.1-b ultralytics-sam2.1-l"

fetch() {  # url file [header]
    if command -v curl >/dev/null 2>&1; then
        curl --fail --location --retry 3 --continue-at - ${3:+--header "$3"} --output "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget --tries=3 --continue ${3:+--header="$3"} --output-document="$2" "$1"
    else
        echo "error: neither curl nor wget is installed; download $1 into $here yourself" >&2
        exit 1
    fi
}

names=()
if [ "$#" -eq 0 ]; then
    set -- sam2 ultralytics
fi
for arg in "$@"; do
    case "$arg" in
        -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        all) names+=($sam2_backends $ultralytics_backends) ;;
        sam2) names+=($sam2_backends) ;;
        ultralytics) names+=($ultralytics_backends) ;;
        sam3) names+=(sam3) ;;
        *)
            if ! url_of "$arg" >/dev/null; then
                echo "error: unknown backend '$arg'; use sam2, ultralytics, sam3, all, or one of: $sam2_backends $ultralytics_backends ultralytics-sam3" >&2
                exit 2
            fi
            names+=("$arg") ;;
    esac
done

for name in "${names[@]}"; do
    url="$(url_of "$name")"
    file="$here/$(basename "$url")"
    if [ -s "$file" ]; then
        echo "$(basename "$file"): already here ($name)"
        continue
    fi
    header=""
    case "$url" in
        "$huggingface"/*)
            if [ -z "${HF_TOKEN:-}" ]; then
                echo "error: $(basename "$file") is gated: request access at https://huggingface.co/facebook/sam3, then run again with HF_TOKEN set to a token of that account" >&2
                exit 1
            fi
            header="Authorization: Bearer $HF_TOKEN" ;;
    esac
    echo "$(basename "$file"): downloading for $name from $url"
    fetch "$url" "$file.part" "$header"
    mv "$file.part" "$file"
done
