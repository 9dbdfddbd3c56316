package nodes

import (
	"context"
	"errors"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

// Node types whose work needs something Grimoire does not have (an image
// or speech model, file storage, outbound HTTP, a Jupyter server, a SQL
// database, LangChain). They are registered so that a Thoth/Magick spell
// using them loads and validates; the node fails when it runs, saying what
// is missing and what to do.
type unsupportedSpec struct {
	name    string   // the Magick editor's name
	aliases []string // other editor names of the same capability
	outputs []string // data outputs the editor declared
	editor  string   // the editor whose sources are cited; "" means Magick
	source  string   // the editor's file(s) the ports come from
	needs   string   // what is missing
	todo    string   // what to do instead
}

var unsupportedSpecs = []unsupportedSpec{
	{name: "Generate Image", aliases: []string{"Generate Images", "Text2Image", "ImageToImage"}, outputs: []string{"result"},
		source: "image/TextToImage.ts, image/GenerateImages.ts, image/Text2Image.ts, image/ImageToImage.ts",
		needs:  "an image-generation model", todo: "generate images outside the spell and pass their URLs in as run inputs"},
	{name: "Image to Text", outputs: []string{"result"}, source: "image/ImageToText.ts",
		needs: "an image-captioning model", todo: "caption images outside the spell and pass the text in as a run input"},
	{name: "Text to Speech", aliases: []string{"TextToAudio"}, outputs: []string{"result"},
		source: "audio/TextToSpeech.ts, audio/textToSpeech.ts, audio/textToAudio.ts",
		needs:  "a text-to-speech model", todo: "synthesise speech from the spell's text output outside the spell"},
	{name: "SpeechToText", aliases: []string{"Speech2Text"}, outputs: []string{"result"},
		source: "speech/SpeechToText.ts, speech/Speech2Text.ts",
		needs:  "a speech-to-text model", todo: "transcribe audio outside the spell and pass the text in as a run input"},
	{name: "Base64 To Image", outputs: []string{"url", "urls"}, source: "files/Base64ToPNG.ts",
		needs: "file storage", todo: "store images outside the spell and pass their URLs in as run inputs"},
	{name: "Upload Base64 Files", outputs: []string{"urls"}, source: "files/UploadBase64.ts",
		needs: "file storage", todo: "upload files outside the spell and pass their URLs in as run inputs"},
	{name: "Request", outputs: []string{"output"}, source: "io/Request.ts",
		needs: "outbound HTTP (node types do no network I/O)", todo: "call the API outside the spell and pass its response in as a run input"},
	{name: "Jupyter Notebook", outputs: []string{"output"}, source: "io/JupyterNotebook.ts, experimental/JupyterNotebook.ts",
		needs: "a Jupyter server", todo: "port the notebook's last cell to JavaScript in a Code node"},
	{name: "Select Record", outputs: []string{"result"}, source: "database/Select.ts",
		needs: "a SQL database provider", todo: "query the database outside the spell, or keep the data in a knowledge base (Store Document / Search Knowledge)"},
	{name: "Insert Record", outputs: []string{"result"}, source: "database/Insert.ts",
		needs: "a SQL database provider", todo: "write to the database outside the spell, or keep the data in a knowledge base (Store Document)"},
	{name: "Update Record", outputs: []string{"result"}, source: "database/Update.ts",
		needs: "a SQL database provider", todo: "write to the database outside the spell, or keep the data in a knowledge base (Store Document)"},
	{name: "Upsert Record", outputs: []string{"result"}, source: "database/Upsert.ts",
		needs: "a SQL database provider", todo: "write to the database outside the spell, or keep the data in a knowledge base (Store Document)"},
	{name: "Delete Record", outputs: []string{"result"}, source: "database/Delete.ts",
		needs: "a SQL database provider", todo: "delete in the database outside the spell"},
	{name: "Get Current Weather", outputs: []string{"result"}, source: "weather/GetCurrentWeather.ts",
		needs: "a weather provider (outbound HTTP)", todo: "fetch the weather outside the spell and pass it in as a run input"},
	{name: "Get Current Forecast", outputs: []string{"result"}, source: "weather/GetCurrentForecast.ts",
		needs: "a weather provider (outbound HTTP)", todo: "fetch the forecast outside the spell and pass it in as a run input"},
	{name: "TypeChat", outputs: []string{"result"}, source: "text/TypeChat.ts",
		needs: "Magick's typeChat completion provider (its prompt and parsing live in a provider plugin, not in the node)", todo: "ask for JSON with Generate Text or Chat Completion and parse it with JSON Parse"},
	{name: "Generate Json", outputs: []string{"result"}, source: "text/Jsonformer.ts",
		needs: "Magick's json completion provider (Jsonformer, in a provider plugin)", todo: "ask for JSON with Generate Text or Chat Completion and parse it with JSON Parse"},
	{name: "Create Task", outputs: []string{"task"}, source: "tasks/CreateTask.ts",
		needs: "Magick's agent task service", todo: "keep the task in the spell state (State Write) or in a knowledge base"},
	{name: "Cancel Task", aliases: []string{"Complete Task"}, outputs: []string{"task"}, source: "tasks/CancelTask.ts, tasks/CompleteTask.ts (both named \"Cancel Task\" there)",
		needs: "Magick's agent task service", todo: "keep the task's status in the spell state (State Write)"},
	{name: "Finish Task Step", outputs: []string{"agentTask"}, source: "tasks/FinishTaskStep.ts",
		needs: "Magick's agent task service", todo: "keep the task's steps in the spell state (State Write)"},
	{name: "Delete Task", source: "tasks/TaskDelete.ts",
		needs: "Magick's agent task service", todo: "remove the task from the spell state (State Write)"},
	{name: "Task Recall", outputs: []string{"tasks"}, source: "tasks/TaskRecall.ts",
		needs: "Magick's agent task service", todo: "read tasks from the spell state (State Read) or a knowledge base (Search Knowledge)"},
	{name: "Store Task", source: "tasks/TaskStore.ts",
		needs: "Magick's agent task service", todo: "keep the task in the spell state (State Write) or in a knowledge base (Store Document)"},
	{name: "Enki Task", editor: "Thoth", source: "core/src/components/EnkiTask.ts",
		needs: "Latitude's Enki few-shot service", todo: "put the few-shot prompt in a Text Template or Fewshot Variable and call Generate Text"},
	{name: "Huggingface", outputs: []string{"result"}, editor: "Thoth", source: "core/src/components/Huggingface.ts",
		needs: "the Hugging Face inference API (outbound HTTP)", todo: "serve the model behind an OpenAI-compatible endpoint and use Generate Text, or call it outside the spell"},
	{name: "VisualGeneration", outputs: []string{"images"}, editor: "Thoth", source: "core/src/components/VisualGeneration.ts",
		needs: "an image cache searched by caption", todo: "search images outside the spell and pass them in as a run input, or keep captions in a knowledge base (Search Knowledge)"},
	{name: "Agent Executor", source: "langchain/AgentExecutor.ts",
		needs: "LangChain", todo: "build the agent loop from Generate Text, Switch and Code nodes"},
	{name: "Agent Recommender", source: "langchain/AgentRecommender.ts",
		needs: "LangChain", todo: "pick the agent with Search Knowledge or a Code node"},
	{name: "Discord join voice", outputs: []string{"output"}, source: "plugins/discord/shared/src/nodes/DiscordJoinVoice.ts",
		needs: "a Discord connection (it describes a tool for Agent Executor)", todo: "join voice outside the spell"},
	{name: "Github Issue Search", outputs: []string{"object"}, source: "plugins/github/shared/src/nodes/GithubIssueSearch.ts",
		needs: "GitHub API access (it describes a tool for Agent Executor)", todo: "search GitHub outside the spell and pass the issues in as a run input"},
	{name: "Discord List Channels", outputs: []string{"output"}, source: "langchain/DiscordListChannels.ts",
		needs: "a Discord connection", todo: "list the channels outside the spell and pass them in as a run input"},
}

func init() {
	for _, spec := range unsupportedSpecs {
		Register(spec.name, func(*Services) *graph.NodeType { return newUnsupported(spec) })
	}
}

func newUnsupported(spec unsupportedSpec) *graph.NodeType {
	outs := []graph.Port{triggerOut}
	for _, o := range spec.outputs {
		outs = append(outs, dataOut(o, "any", "never set: the node cannot run here"))
	}
	editor := spec.editor
	if editor == "" {
		editor = "Magick"
	}
	msg := fmt.Sprintf("unsupported: %q needs %s, which Grimoire does not have; %s (%s: %s)", spec.name, spec.needs, spec.todo, editor, spec.source)
	return &graph.NodeType{
		Name:    spec.name,
		Aliases: spec.aliases,
		Family:  "unsupported",
		Doc:     "Unsupported (needs " + spec.needs + "): loads and validates, fails when it runs.",
		Inputs:  []graph.Port{triggerIn},
		Outputs: outs,
		// Its inputs were the editor's provider sockets, which vary by
		// model; a spell may connect any of them.
		DynamicPorts:     true,
		Nondeterministic: true,
		New: func(n *graph.Node) (graph.Worker, error) {
			err := errors.New(msg)
			return graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
				return graph.Result{}, err
			}), nil
		},
	}
}
