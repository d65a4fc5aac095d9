-- The Lua demo function of `rpccli shell`: uWSGI's own Lua RPC example, which runs unchanged
-- under real uWSGI (uwsgi --plugins rpc,lua51 --socket :3031 --lua-load demo_functions.lua).
-- The shell's demo server loads it when the lupa package is installed (pip install 'rpccli[lua]').
function hello_with_args(...)
  local args = {...}
  return "args are " .. table.concat(args, " ")
end

uwsgi.register_rpc("hellolua", hello_with_args)
