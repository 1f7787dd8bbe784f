# bash completion for tio — source it, or install as /usr/share/bash-completion/completions/tio
_tio() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
  fi
  local verbs="++ init down -- + apply - rm ls logs exec stats metrics login logout user secret net status version backup restore"
  local globals="--host -H --socket --root --help"
  # the first word that is not an option (or an option's value) is the verb
  local verb="" sub="" i
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      --host|-H|--socket|--root) ((i++)) ;;
      -|--|+|++) if [[ -z $verb ]]; then verb=${words[i]}; elif [[ -z $sub ]]; then sub=${words[i]}; fi ;;
      -*) ;;
      *) if [[ -z $verb ]]; then verb=${words[i]}; elif [[ -z $sub ]]; then sub=${words[i]}; fi ;;
    esac
  done
  case $prev in
    --root|--from-file|--passphrase-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -o|--output) COMPREPLY=($(compgen -W "table json text" -- "$cur")); return ;;
    --supervisor) COMPREPLY=($(compgen -W "auto systemd process" -- "$cur")); return ;;
    --tail|-n|--replica|-r|--env|-e) return ;;  # a value of the user's
  esac
  case $verb in
    "") COMPREPLY=($(compgen -W "$verbs $globals" -- "$cur")) ;;
    ++|init) COMPREPLY=($(compgen -W "-net -u -p -ip --kv-port --kv-peer-port --listen-tcp --metrics-listen --token-ttl --supervisor --subnet-pool --subnet-size --help" -- "$cur")) ;;
    stats) COMPREPLY=($(compgen -W "--interval -i --watch -w --output -o --help $(tio ls -o json 2>/dev/null | grep -o '"name":"[^"]*"' | cut -d'"' -f4)" -- "$cur")) ;;
    metrics) [[ -z $sub ]] && COMPREPLY=($(compgen -W "token" -- "$cur")) || COMPREPLY=($(compgen -W "--new --help" -- "$cur")) ;;
    +|apply) COMPREPLY=($(compgen -f -X '!*.@(yml|yaml)' -- "$cur") $(compgen -d -- "$cur")) ;;
    logs|exec)
      if [[ $cur == -* ]]; then
        if [[ $verb == logs ]]; then COMPREPLY=($(compgen -W "-f --follow --tail -n -r --replica --help" -- "$cur"))
        else COMPREPLY=($(compgen -W "-r --replica -e --env -- --help" -- "$cur")); fi
        return
      fi
      [[ -n $sub ]] && return  # after the app name: the command (exec) is the user's
      local apps
      apps=$(tio ls -o json 2>/dev/null | grep -o '"name":"[^"]*"' | cut -d'"' -f4)
      COMPREPLY=($(compgen -W "$apps" -- "$cur")) ;;
    -|rm)
      local names
      names=$(tio ls -o json 2>/dev/null | grep -o '"name":"[^"]*"' | cut -d'"' -f4)
      COMPREPLY=($(compgen -W "$names" -- "$cur") $(compgen -f -X '!*.@(yml|yaml)' -- "$cur")) ;;
    ls) COMPREPLY=($(compgen -W "-o --output --help" -- "$cur")) ;;
    login) COMPREPLY=($(compgen -W "-u -p --help" -- "$cur")) ;;
    down|--) COMPREPLY=($(compgen -W "--grace --remove-units --help" -- "$cur")) ;;
    status) COMPREPLY=($(compgen -W "-o --output --help" -- "$cur")) ;;
    backup) COMPREPLY=($(compgen -W "--passphrase-file --help" -- "$cur") $(compgen -f -- "$cur")) ;;
    restore) COMPREPLY=($(compgen -W "--passphrase-file --force -u -p --help" -- "$cur") $(compgen -f -- "$cur")) ;;
    user|secret|net)
      local more=""; [[ $verb == net ]] && more="egress"
      if [[ -z $sub ]]; then COMPREPLY=($(compgen -W "+ add - rm ls $more --help" -- "$cur"))
      elif [[ $verb == secret && ( $sub == + || $sub == add ) ]]; then COMPREPLY=($(compgen -W "--from-file --help" -- "$cur"))
      elif [[ $verb == user && ( $sub == + || $sub == add ) ]]; then COMPREPLY=($(compgen -W "-p --help" -- "$cur"))
      elif [[ $verb == net && ( $sub == + || $sub == add ) ]]; then COMPREPLY=($(compgen -W "--no-egress --help" -- "$cur"))
      elif [[ $verb == net && $sub == egress && ${#COMP_WORDS[@]} -gt 4 ]]; then COMPREPLY=($(compgen -W "on off" -- "$cur"))
      elif [[ $sub == - || $sub == rm || ( $verb == net && $sub == egress ) ]]; then
        local list
        list=$(tio "$verb" ls 2>/dev/null | awk 'NR>1 {print $1}')
        COMPREPLY=($(compgen -W "$list" -- "$cur"))
      fi ;;
    *) COMPREPLY=($(compgen -W "--help" -- "$cur")) ;;
  esac
}
complete -F _tio tio
