// An OpenAI-compatible chat-completions endpoint on loopback for the llm planner: its
// first request fails with HTTP 503 (the client retries it, so error metrics have data),
// then every reply is one JSON object that serves as a proposal (a new learning rate
// each time, so no proposal repeats a trial), a reflection and a cognition summary.
// Each reply takes a little longer than Prometheus' scrape interval in the tests, so
// the LLM counters and latency histogram move between scrapes and rate() sees it.
import http from "node:http";

export async function startFakeLlm() {
  let requests = 0;
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => setTimeout(() => {
      requests++;
      if (requests === 1) {
        res.writeHead(503, { "content-type": "application/json" });
        return res.end('{"error": {"message": "warming up"}}');
      }
      const lr = Number((1e-4 * (1 + (requests % 90))).toPrecision(3));
      const content = {
        proposals: [{
          hypothesis: `a learning rate of ${lr} converges faster`,
          changed_dimension: "lr",
          expected_mechanism: "larger steps",
          risk: "divergence",
          rollback: "return to the best learning rate",
          configuration: { lr },
        }],
        observation: "the objective moved",
        explanation: "the learning rate changed",
        generalized_rule: "tune the learning rate first",
        next_action: "try another learning rate",
        prose: "The learning rate mattered most.",
        rules: [],
        search_order: ["lr"],
        failed_attempts: [],
      };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({
        id: `chatcmpl-${requests}`,
        object: "chat.completion",
        model: "fake",
        choices: [{ index: 0, message: { role: "assistant", content: JSON.stringify(content) }, finish_reason: "stop" }],
        usage: { prompt_tokens: Math.ceil(body.length / 4), completion_tokens: 60, total_tokens: Math.ceil(body.length / 4) + 60 },
      }));
    }, 1200));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    baseUrl: `http://127.0.0.1:${server.address().port}/v1`,
    requests: () => requests,
    close: () => server.close(),
  };
}
