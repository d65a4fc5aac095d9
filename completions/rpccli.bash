_rpccli_completion() {
    local response line type value

    # The line up to the cursor, not COMP_WORDS: bash splits words at ':' (COMP_WORDBREAKS),
    # which would cut every HOST:PORT node in two.
    response=$(env COMP_LINE="${COMP_LINE:0:$COMP_POINT}" COMP_WORDBREAKS="$COMP_WORDBREAKS" \
_RPCCLI_COMPLETE=bash_complete "$1")

    # One answer a line, TYPE,VALUE. VALUE is already quoted for the place it goes, so it is
    # added as one word, as it is: never split, globbed or evaluated here.
    while IFS= read -r line; do
        type=${line%%,*}
        value=${line#*,}

        if [[ $type == 'dir' ]]; then
            COMPREPLY=()
            compopt -o dirnames
        elif [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'plain' ]]; then
            COMPREPLY+=("$value")
        fi
    done <<< "$response"

    return 0
}

_rpccli_completion_setup() {
    complete -o nosort -F _rpccli_completion rpccli
}

_rpccli_completion_setup;
