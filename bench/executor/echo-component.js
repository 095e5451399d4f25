// The benchmark's echo as JavaScript, built into a component by componentize-js.
export const echo = {
  echo(ctx, request) {
    return { data: request.data, text: request.text };
  },
};
