-- RPC functions for uWSGI's Lua plugin:  uwsgi --plugins rpc,lua51 --lua-load examples/functions.lua
function hellolua(...)
  local args = {...}
  return "args are " .. table.concat(args, " ")
end

function answer()
  return 42
end

function luafail()
  error("luafail was called")
end

uwsgi.register_rpc("hellolua", hellolua)
uwsgi.register_rpc("answer", answer)
uwsgi.register_rpc("luafail", luafail)
