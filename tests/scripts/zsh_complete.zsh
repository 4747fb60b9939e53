#!/usr/bin/zsh -f
# Prints, one per line, what zsh's completion offers for a command line, as a person pressing
# TAB would get it: an interactive zsh on a pseudo-terminal (zpty) with compinit and the
# completion functions of a folder. compadd is wrapped to print each candidate it adds; a key
# bound to a widget prints a sentinel once the completion is done.
# Usage: zsh_complete.zsh COMPLETION_DIR "stubborn --"
zmodload zsh/zpty || exit 2
zpty z zsh -f -i
zpty -w z "PROMPT= RPROMPT=; unsetopt zle_bracketed_paste 2>/dev/null"
zpty -w z "fpath=(${(q)1} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "zstyle ':completion:*' menu no; setopt no_list_beep"
# The markers are split in what is typed, so the terminal's echo of these lines has none.
zpty -w z 'compadd () { local -a hits; builtin compadd -O hits "$@";
  (( $#hits )) && print -rl -- "<ca""nd>"${^hits}; builtin compadd "$@" }'
zpty -w z 'completion-done () { print -r -- "<do""ne>" }; zle -N completion-done'
zpty -w z 'bindkey "^X" completion-done'
zpty -w z "$2"$'\t\x18'
local line
while zpty -r z line; do
  [[ $line == *'<done>'* ]] && break
  while [[ $line == *'<cand>'* ]]; do
    line=${line#*<cand>}
    print -r -- ${${line%%<cand>*}%%[$'\r\n']*}
  done
done
zpty -d z
