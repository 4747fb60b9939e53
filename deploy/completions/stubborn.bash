# bash completion for stubborn(1). Installed as share/bash-completion/completions/stubborn.
# Every option of `stubborn --help` must be listed here (tests/scripts/test_cli_docs.py).
# Self-contained: it works with or without the bash-completion package's helpers.

_stubborn() {
  local cur prev
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  # --log-level=de: bash splits the word at "=".
  if [[ ${cur} == = ]]; then
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    cur=""
  elif [[ ${prev} == = && ${COMP_CWORD} -gt 1 ]]; then
    prev=${COMP_WORDS[COMP_CWORD - 2]}
  fi

  local options="--listen --tls-listen --threads --check --offline --port-file --tls-port-file
    --access-log --no-watch --log-level --print-schema --version --help -h"
  local record_options="--upstream --out --listen --port-file --threads --access-log
    --log-level --help"
  local recording=false
  if [[ ${COMP_CWORD} -gt 1 && ${COMP_WORDS[1]} == record ]]; then
    recording=true
  fi

  case ${prev} in
    --log-level)
      mapfile -t COMPREPLY < <(compgen -W "error warn info debug" -- "${cur}")
      return 0
      ;;
    --threads)
      mapfile -t COMPREPLY < <(compgen -W "0 1 2 4 8" -- "${cur}")
      return 0
      ;;
    --listen | --tls-listen)
      mapfile -t COMPREPLY < <(compgen -W "127.0.0.1:8080 127.0.0.1:0 0.0.0.0:8080 [::1]:8080" \
        -- "${cur}")
      return 0
      ;;
    --upstream)
      mapfile -t COMPREPLY < <(compgen -W "http:// https://" -- "${cur}")
      compopt -o nospace 2>/dev/null
      return 0
      ;;
    --port-file | --tls-port-file | --access-log | --out)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "${cur}")
      return 0
      ;;
  esac

  if [[ ${cur} == -* ]]; then
    if ${recording}; then
      mapfile -t COMPREPLY < <(compgen -W "${record_options}" -- "${cur}")
    else
      mapfile -t COMPREPLY < <(compgen -W "${options}" -- "${cur}")
    fi
    return 0
  fi
  if ${recording}; then
    return 0
  fi

  # CONFIG: TOML files and folders; "record" as the first word.
  compopt -o filenames 2>/dev/null
  local words=()
  mapfile -t words < <(compgen -d -- "${cur}")
  local files=()
  mapfile -t files < <(compgen -f -X '!*.toml' -- "${cur}")
  COMPREPLY=("${words[@]}" "${files[@]}")
  if [[ ${COMP_CWORD} -eq 1 ]]; then
    mapfile -t words < <(compgen -W "record" -- "${cur}")
    COMPREPLY+=("${words[@]}")
  fi
  return 0
}
complete -F _stubborn stubborn
