// example.com:echo.Echo@1.0.0 — answers the request message as it came.
import { requestBytes, respond, setTrailer, metadata, print } from "../../../sdk/assemblyscript";
export { workd_alloc } from "../../../sdk/assemblyscript";

export function Echo(ptr: i32, len: i32): i32 {
  // The request is already a valid EchoMessage: echoing its bytes echoes the message.
  setTrailer("x-echo-length", len.toString());
  const who = metadata("x-caller");
  if (who !== null) print("echo for " + who);
  return respond(requestBytes(ptr, len));
}
