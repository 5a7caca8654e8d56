<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN" sourcelanguage="en">
<context>
    <name>ApiSettingsBox</name>
    <message>
        <source>API server (OpenAI-compatible)</source>
        <translation>API 服务（兼容 OpenAI）</translation>
    </message>
    <message>
        <source>Serve the API while Mingjing is open</source>
        <translation>明镜打开时提供 API 服务</translation>
    </message>
    <message>
        <source>Programs on this computer (editors, scripts, other chat apps) can use the model and your knowledge bases through the OpenAI API; the window and the API take turns on the model.</source>
        <translation>本机上的程序（编辑器、脚本、其他聊天应用）可以通过 OpenAI API 使用模型和你的知识库；窗口和 API 轮流使用模型。</translation>
    </message>
    <message>
        <source>Port</source>
        <translation>端口</translation>
    </message>
    <message>
        <source>Address</source>
        <translation>地址</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>复制</translation>
    </message>
    <message>
        <source>Copy the token to the clipboard</source>
        <translation>把令牌复制到剪贴板</translation>
    </message>
    <message>
        <source>Regenerate</source>
        <translation>重新生成</translation>
    </message>
    <message>
        <source>Make a new token; programs using the old one are refused from OK on</source>
        <translation>生成新令牌；点“确定”后，使用旧令牌的程序将被拒绝</translation>
    </message>
    <message>
        <source>Token</source>
        <translation>令牌</translation>
    </message>
    <message>
        <source>Only programs on this computer can connect (127.0.0.1). They send the token as the API key (Authorization: Bearer …).</source>
        <translation>只有本机上的程序可以连接（127.0.0.1）。它们把令牌作为 API 密钥发送（Authorization: Bearer …）。</translation>
    </message>
</context>
<context>
    <name>ChatView</name>
    <message>
        <source>Mingjing</source>
        <translation>明镜</translation>
    </message>
    <message>
        <source>Type a message below to start.</source>
        <translation>在下方输入消息即可开始。</translation>
    </message>
</context>
<context>
    <name>CompareWindow</name>
    <message>
        <source>chat</source>
        <translation>对话</translation>
    </message>
    <message>
        <source>base</source>
        <translation>基础</translation>
    </message>
    <message>
        <source>Compare models</source>
        <translation>模型对比</translation>
    </message>
    <message>
        <source>Base vs instruction-tuned</source>
        <translation>基础模型 vs 指令微调模型</translation>
    </message>
    <message>
        <source>Two tokenizers</source>
        <translation>两个分词器</translation>
    </message>
    <message>
        <source>A &lt;b&gt;base&lt;/b&gt; model was only pretrained: it learned to continue text, so it carries on from your words.&lt;br&gt;An &lt;b&gt;instruction-tuned&lt;/b&gt; model was then trained on conversations: its chat template marks whose turn it is, and it answers.</source>
        <translation>&lt;b&gt;基础模型&lt;/b&gt;只经过预训练：它学会的是续写文本，所以会顺着你的话往下写。&lt;br&gt;&lt;b&gt;指令微调模型&lt;/b&gt;又在对话数据上训练过：它的聊天模板标明轮到谁说话，所以它会回答。</translation>
    </message>
    <message>
        <source>A prompt for both models (Ctrl+Enter sends)</source>
        <translation>发给两个模型的提示词（Ctrl+Enter 发送）</translation>
    </message>
    <message>
        <source>The capital of France is</source>
        <translation>法国的首都是</translation>
    </message>
    <message>
        <source>Send to both</source>
        <translation>发给两个模型</translation>
    </message>
    <message>
        <source>One model after the other (Ctrl+Enter)</source>
        <translation>两个模型依次运行（Ctrl+Enter）</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>Loading the first model…</source>
        <translation>正在加载第一个模型…</translation>
    </message>
    <message>
        <source>chat template: it answers</source>
        <translation>有聊天模板：它会回答</translation>
    </message>
    <message>
        <source>no chat template: it continues the text</source>
        <translation>没有聊天模板：它续写文本</translation>
    </message>
    <message>
        <source>%1 is writing…</source>
        <translation>%1 正在生成…</translation>
    </message>
    <message>
        <source>%1 tokens read · %2 written · %3 tokens/s</source>
        <translation>读入 %1 个词元 · 生成 %2 个 · 每秒 %3 个词元</translation>
    </message>
    <message>
        <source>Loading the second model…</source>
        <translation>正在加载第二个模型…</translation>
    </message>
    <message>
        <source>Could not run: %1</source>
        <translation>无法运行：%1</translation>
    </message>
    <message>
        <source>Stopped.</source>
        <translation>已停止。</translation>
    </message>
    <message>
        <source>Done.</source>
        <translation>完成。</translation>
    </message>
    <message>
        <source>Every model comes with its own tokenizer, learned from its training text: the same words become different pieces and a different number of tokens.&lt;br&gt;Chinese is usually one or two characters per token; the window size and the speed are counted in these tokens.</source>
        <translation>每个模型都有自己的分词器，是从它的训练文本中学来的：同样的文字会被切成不同的片段、不同数量的词元。&lt;br&gt;中文通常每个词元一到两个汉字；上下文窗口的大小和生成速度都以这些词元计。</translation>
    </message>
    <message>
        <source>我今天吃了狮子头和蔬菜。Large language models read tokens, not characters.</source>
        <translation>我今天吃了狮子头和蔬菜。Large language models read tokens, not characters.</translation>
    </message>
    <message>
        <source>Counting…</source>
        <translation>正在计数…</translation>
    </message>
    <message>
        <source>%1 tokens for %2 characters (%3 characters per token) · vocabulary of %4 tokens</source>
        <translation>%2 个字符 → %1 个词元（每个词元 %3 个字符）· 词表共 %4 个词元</translation>
    </message>
</context>
<context>
    <name>Composer</name>
    <message>
        <source>Message — Enter to send, Shift+Enter for a new line</source>
        <translation>输入消息 — Enter 发送，Shift+Enter 换行</translation>
    </message>
    <message>
        <source>Send</source>
        <translation>发送</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>Stop generating (Esc)</source>
        <translation>停止生成（Esc）</translation>
    </message>
    <message>
        <source>Sending is not available now</source>
        <translation>现在无法发送</translation>
    </message>
    <message>
        <source>Send (Enter)</source>
        <translation>发送（Enter）</translation>
    </message>
</context>
<context>
    <name>ConceptController</name>
    <message>
        <source>Concept panel</source>
        <translation>概念面板</translation>
    </message>
</context>
<context>
    <name>ConceptPanel</name>
    <message>
        <source>Your message</source>
        <translation>你的消息</translation>
    </message>
    <message>
        <source>A model reads text as tokens: pieces of words, whole words, or for Chinese usually one or two characters. Every model has its own tokenizer, so the same text gives different counts on different models. Everything the model reads and writes is counted in tokens.</source>
        <translation>模型把文本读成词元（token）：词的一部分、整个词，中文通常是一两个汉字。每个模型都有自己的分词器，所以同一段文本在不同模型上得到的数量不同。模型读和写的一切都以词元计。</translation>
    </message>
    <message>
        <source>Type a message to count its tokens.</source>
        <translation>输入消息即可统计它的词元数。</translation>
    </message>
    <message>
        <source>Context window</source>
        <translation>上下文窗口</translation>
    </message>
    <message>
        <source>The model sees only a fixed number of tokens at once: its context window. The system prompt, retrieved passages, earlier turns, your message and room for the reply must all fit. When they do not, the oldest turns are left out; this bar shows which ones before you send, and fills as the reply is written.</source>
        <translation>模型一次只能看到固定数量的词元：这就是它的上下文窗口。系统提示词、检索到的段落、之前的对话、你的消息和留给回复的空间都必须放得下。放不下时，最早的对话会被舍弃；这个条在发送前就显示会舍弃哪些，并在回复生成时逐步填满。</translation>
    </message>
    <message>
        <source>Prompt</source>
        <translation>提示词</translation>
    </message>
    <message>
        <source>Exactly what the model will read: the conversation after the chat template has added its special tokens (such as &lt;|im_start|&gt; or &lt;start_of_turn&gt;), cut into tokens. Hover over a piece to see its id and bytes. After sending, it shows the prompt that was actually used, retrieved passages included.</source>
        <translation>模型将要读到的确切内容：经过聊天模板加上特殊词元（如 &lt;|im_start|&gt; 或 &lt;start_of_turn&gt;）后的对话，切分成词元。把鼠标停在某一块上可查看它的 ID 和字节。发送后，这里显示实际使用的提示词，包括检索到的段落。</translation>
    </message>
    <message>
        <source>Generation</source>
        <translation>生成</translation>
    </message>
    <message>
        <source>The model writes one token at a time. At each step it gives every token in its vocabulary a probability and the sampler picks one. Temperature reshapes the probabilities: low values make the likeliest token win more often, high values flatten the choice. Click a token to see what it was chosen from.</source>
        <translation>模型一次写一个词元。每一步它为词表中的每个词元给出一个概率，再由采样器选出一个。温度会重塑这些概率：低温让最可能的词元更常胜出，高温让选择更平均。点击一个词元，可以看到它是从哪些候选中选出的。</translation>
    </message>
    <message>
        <source>Retrieval</source>
        <translation>检索</translation>
    </message>
    <message>
        <source>RAG: for your question the chosen knowledge bases are searched two ways, by meaning (similarity of embeddings) and by keywords (BM25 over words cut by jieba). The two rankings are fused, and passages go into the prompt in that order while they fit the token budget.</source>
        <translation>RAG：针对你的问题，所选知识库以两种方式搜索：按含义（嵌入向量的相似度）和按关键词（对 jieba 分出的词做 BM25）。两种排名融合后，段落按该顺序放入提示词，直到用完词元预算。</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>What the model file (GGUF), or the server that runs the model, says about it, and what that means for memory and context.</source>
        <translation>模型文件（GGUF）或运行模型的服务器对模型的描述，以及这对内存和上下文意味着什么。</translation>
    </message>
    <message>
        <source>%1 characters → %2 tokens (%3 characters per token)</source>
        <translation>%1 个字符 → %2 个词元（每个词元 %3 个字符）</translation>
    </message>
    <message>
        <source>Knowledge on (%1): up to %2 tokens of retrieved passages are added from the free space when you send.</source>
        <translation>知识库已开启（%1）：发送时会在剩余空间中加入最多 %2 个词元的检索段落。</translation>
    </message>
</context>
<context>
    <name>ContextBar</name>
    <message>
        <source>Nothing to show yet: the bar fills in once there is a message.</source>
        <translation>暂无内容：有消息后这个条就会填充。</translation>
    </message>
    <message>
        <source>System prompt</source>
        <translation>系统提示词</translation>
    </message>
    <message>
        <source>Retrieved knowledge</source>
        <translation>检索到的知识</translation>
    </message>
    <message>
        <source>History</source>
        <translation>历史对话</translation>
    </message>
    <message>
        <source>This message</source>
        <translation>本条消息</translation>
    </message>
    <message>
        <source>Reply</source>
        <translation>回复</translation>
    </message>
    <message>
        <source>Reserved for the reply</source>
        <translation>为回复预留</translation>
    </message>
    <message>
        <source>Free</source>
        <translation>空闲</translation>
    </message>
    <message>
        <source>Left out</source>
        <translation>被舍弃</translation>
    </message>
    <message>
        <source>user #%d</source>
        <translation>用户 #%d</translation>
    </message>
    <message>
        <source>assistant #%d</source>
        <translation>助手 #%d</translation>
    </message>
    <message>
        <source>system #%d</source>
        <translation>系统 #%d</translation>
    </message>
    <message>
        <source>Reply so far</source>
        <translation>已生成的回复</translation>
    </message>
    <message>
        <source>%s · %s tokens · %.1f %% of the window</source>
        <translation>%s · %s 个词元 · 占窗口的 %.1f %%</translation>
    </message>
    <message>
        <source>%s of %s tokens used (%d %%)</source>
        <translation>已用 %s / %s 个词元（%d %%）</translation>
    </message>
    <message>
        <source>about %s of %s tokens used (%d %%), estimated: this server does not count tokens</source>
        <translation>约已用 %s / %s 个词元（%d %%），为估计值：此服务器不提供词元计数</translation>
    </message>
    <message>
        <source>the server counted %s prompt tokens</source>
        <translation>服务器计得提示词 %s 个词元</translation>
    </message>
    <message>
        <source>the model has read %s of %s new prompt tokens</source>
        <translation>模型已读取 %s / %s 个新的提示词元</translation>
    </message>
    <message>
        <source>%s (%s tokens)</source>
        <translation>%s（%s 个词元）</translation>
    </message>
    <message numerus="yes">
        <source>To make room, %n oldest message(s) will be left out: %s</source>
        <translation>
            <numerusform>为腾出空间，最早的 %n 条消息将被舍弃：%s</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>ConversationController</name>
    <message numerus="yes">
        <source>%n reply(s) cut off by a crash were kept and marked interrupted.</source>
        <translation>
            <numerusform>有 %n 条回复因程序崩溃而中断，已保留并标记为“已中断”。</numerusform>
        </translation>
    </message>
    <message>
        <source>Conversation deleted.</source>
        <translation>对话已删除。</translation>
    </message>
    <message>
        <source>Conversation restored.</source>
        <translation>对话已恢复。</translation>
    </message>
</context>
<context>
    <name>ConversationList</name>
    <message>
        <source>New chat</source>
        <translation>新对话</translation>
    </message>
    <message>
        <source>New chat (Ctrl+N)</source>
        <translation>新对话（Ctrl+N）</translation>
    </message>
    <message>
        <source>Search conversations</source>
        <translation>搜索对话</translation>
    </message>
    <message>
        <source>Rename</source>
        <translation>重命名</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>New conversation</source>
        <translation>新对话</translation>
    </message>
    <message>
        <source>Rename conversation</source>
        <translation>重命名对话</translation>
    </message>
    <message>
        <source>Title:</source>
        <translation>标题：</translation>
    </message>
</context>
<context>
    <name>DatabaseLane</name>
    <message>
        <source>Conversation history unavailable</source>
        <translation>无法使用对话历史</translation>
    </message>
</context>
<context>
    <name>EmbedderMenu</name>
    <message>
        <source>Built-in: multilingual USE v3 (Chinese and 15 more languages)</source>
        <translation>内置：多语言 USE v3（中文及另外 15 种语言）</translation>
    </message>
    <message>
        <source>A sentence-transformers model folder…</source>
        <translation>sentence-transformers 模型文件夹…</translation>
    </message>
    <message>
        <source>Choose a sentence-transformers model folder</source>
        <translation>选择 sentence-transformers 模型文件夹</translation>
    </message>
</context>
<context>
    <name>FileTable</name>
    <message>
        <source>Remove from knowledge base</source>
        <translation>从知识库中移除</translation>
    </message>
    <message>
        <source>Remove {count} files from knowledge base</source>
        <translation>从知识库中移除 {count} 个文件</translation>
    </message>
    <message>
        <source>Remove folder “{folder}”</source>
        <translation>移除文件夹“{folder}”</translation>
    </message>
    <message>
        <source>Copy path</source>
        <translation>复制路径</translation>
    </message>
</context>
<context>
    <name>FileTableModel</name>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Folder</source>
        <translation>文件夹</translation>
    </message>
    <message>
        <source>State</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Chunks</source>
        <translation>分块</translation>
    </message>
    <message>
        <source>Last indexed</source>
        <translation>上次索引</translation>
    </message>
    <message>
        <source>Indexed</source>
        <translation>已索引</translation>
    </message>
    <message>
        <source>Pending</source>
        <translation>等待中</translation>
    </message>
    <message>
        <source>unknown reason</source>
        <translation>原因不明</translation>
    </message>
    <message>
        <source>Failed: {reason}</source>
        <translation>失败：{reason}</translation>
    </message>
</context>
<context>
    <name>GenerationView</name>
    <message>
        <source>Send a message to see how the reply is written.</source>
        <translation>发送一条消息，即可看到回复是如何写出来的。</translation>
    </message>
    <message>
        <source>Temperature preview</source>
        <translation>温度预览</translation>
    </message>
    <message>
        <source>Drag to see how another temperature would reshape the candidates&apos; probabilities. It does not change the reply already written.</source>
        <translation>拖动滑块，看看换一个温度会如何重塑候选词元的概率。这不会改变已经写出的回复。</translation>
    </message>
    <message>
        <source>Token</source>
        <translation>词元</translation>
    </message>
    <message>
        <source>ID</source>
        <translation>ID</translation>
    </message>
    <message>
        <source>Probability</source>
        <translation>概率</translation>
    </message>
    <message>
        <source>At preview T</source>
        <translation>预览温度下</translation>
    </message>
    <message>
        <source>Generating…</source>
        <translation>正在生成…</translation>
    </message>
    <message>
        <source>id %d · probability %.1f %%</source>
        <translation>ID %d · 概率 %.1f %%</translation>
    </message>
    <message>
        <source>id %d · not among the top candidates</source>
        <translation>ID %d · 不在最可能的候选之中</translation>
    </message>
    <message>
        <source>drafted from the prompt (prompt lookup) and confirmed by the model in one batch</source>
        <translation>从提示词中起草（提示词查找），由模型在一批中确认</translation>
    </message>
    <message numerus="yes">
        <source>%n token(s) so far…</source>
        <translation>
            <numerusform>已生成 %n 个词元…</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n token(s), then the reply stopped.</source>
        <translation>
            <numerusform>%n 个词元后回复中断。</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n token(s)</source>
        <translation>
            <numerusform>%n 个词元</numerusform>
        </translation>
    </message>
    <message>
        <source>%.1f tokens/s</source>
        <translation>%.1f 词元/秒</translation>
    </message>
    <message>
        <source>first token after %.2f s</source>
        <translation>%.2f 秒后出现首个词元</translation>
    </message>
    <message>
        <source>%1 of %2 prompt tokens reused from the last turn</source>
        <translation>%2 个提示词词元中有 %1 个复用自上一轮</translation>
    </message>
    <message>
        <source>%1 of %2 drafted tokens kept (underlined)</source>
        <translation>起草的 %2 个词元中保留了 %1 个（带下划线）</translation>
    </message>
    <message>
        <source>ran on %1</source>
        <translation>运行于 %1</translation>
    </message>
    <message>
        <source>Time to first token: reading the prompt (prefill), then the first step.
Tokens/s: writing speed after that.
Reused tokens: the start of the prompt already in the model&apos;s memory (KV cache) from the previous turn, so it did not have to be read again.</source>
        <translation>首个词元用时：读入提示词（预填充），再加第一步生成。
词元/秒：此后的书写速度。
复用的词元：提示词开头已在模型记忆（KV 缓存）中的部分，来自上一轮，无需重新读入。</translation>
    </message>
    <message>
        <source>chosen</source>
        <translation>已选</translation>
    </message>
    <message>
        <source>Step %1: these %2 candidates hold %3 % of the probability.</source>
        <translation>第 %1 步：这 %2 个候选占总概率的 %3 %。</translation>
    </message>
    <message>
        <source>The token picked (id %d) was not among them: the sampler drew a less likely one.</source>
        <translation>实际选中的词元（ID %d）不在其中：采样器抽中了一个可能性较低的词元。</translation>
    </message>
</context>
<context>
    <name>ImportProgressView</name>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Stop importing; files done so far stay indexed</source>
        <translation>停止导入；已处理的文件仍保留在索引中</translation>
    </message>
    <message>
        <source>Starting…</source>
        <translation>正在开始…</translation>
    </message>
    <message>
        <source>Cancelling…</source>
        <translation>正在取消…</translation>
    </message>
    <message>
        <source>Looking for documents…</source>
        <translation>正在查找文档…</translation>
    </message>
    <message>
        <source>{done} / {total} chunks re-embedded</source>
        <translation>已重新嵌入 {done} / {total} 个分块</translation>
    </message>
    <message>
        <source>{done} / {total} files</source>
        <translation>{done} / {total} 个文件</translation>
    </message>
    <message>
        <source>{n} chunks</source>
        <translation>{n} 个分块</translation>
    </message>
</context>
<context>
    <name>KnowledgeBaseChooser</name>
    <message>
        <source>No knowledge base yet</source>
        <translation>还没有知识库</translation>
    </message>
    <message>
        <source>The knowledge base shown here</source>
        <translation>此处显示的知识库</translation>
    </message>
    <message>
        <source>New…</source>
        <translation>新建…</translation>
    </message>
    <message>
        <source>Create an empty knowledge base</source>
        <translation>新建一个空的知识库</translation>
    </message>
    <message>
        <source>Delete…</source>
        <translation>删除…</translation>
    </message>
    <message>
        <source>Delete this knowledge base&apos;s index (your files are not touched)</source>
        <translation>删除此知识库的索引（不会改动你的文件）</translation>
    </message>
    <message>
        <source>Embedder…</source>
        <translation>嵌入模型…</translation>
    </message>
    <message>
        <source>Change the embedding model of this knowledge base (re-embeds every chunk)</source>
        <translation>更换此知识库的嵌入模型（会重新嵌入所有分块）</translation>
    </message>
    <message>
        <source>Knowledge base:</source>
        <translation>知识库：</translation>
    </message>
    <message>
        <source>1 file</source>
        <translation>1 个文件</translation>
    </message>
    <message>
        <source>{n} files</source>
        <translation>{n} 个文件</translation>
    </message>
    <message>
        <source>{name}: {files} files, {chunks} chunks, embedder {embedder}</source>
        <translation>{name}：{files} 个文件，{chunks} 个分块，嵌入模型 {embedder}</translation>
    </message>
</context>
<context>
    <name>KnowledgeController</name>
    <message>
        <source>Knowledge base</source>
        <translation>知识库</translation>
    </message>
    <message>
        <source>No knowledge base yet: drop documents on the window or open the panel (Ctrl+K)</source>
        <translation>还没有知识库：把文档拖到窗口上，或打开知识库面板（Ctrl+K）</translation>
    </message>
    <message>
        <source>Manage knowledge bases…</source>
        <translation>管理知识库…</translation>
    </message>
    <message>
        <source>Knowledge: %s</source>
        <translation>知识库：%s</translation>
    </message>
    <message>
        <source>Knowledge: off</source>
        <translation>知识库：关闭</translation>
    </message>
    <message>
        <source>Retrieved %d passage(s); %d fit the prompt. Generating…</source>
        <translation>检索到 %d 个段落，其中 %d 个放入了提示词。正在生成…</translation>
    </message>
</context>
<context>
    <name>KnowledgeDialogs</name>
    <message>
        <source>New knowledge base</source>
        <translation>新建知识库</translation>
    </message>
    <message>
        <source>Name of the new knowledge base:</source>
        <translation>新知识库的名称：</translation>
    </message>
    <message>
        <source>Delete knowledge base</source>
        <translation>删除知识库</translation>
    </message>
    <message>
        <source>Delete the knowledge base “{name}” ({files} files)?

Only its index is deleted: the extracted text, chunks and vectors Mingjing keeps. Your documents on disk are not touched.</source>
        <translation>删除知识库“{name}”（{files} 个文件）？

只会删除它的索引，即明镜保存的提取文本、分块和向量。你磁盘上的文档不会被改动。</translation>
    </message>
    <message>
        <source>Documents</source>
        <translation>文档</translation>
    </message>
    <message>
        <source>All supported files</source>
        <translation>所有支持的文件</translation>
    </message>
    <message>
        <source>All files</source>
        <translation>所有文件</translation>
    </message>
    <message>
        <source>Add files to the knowledge base</source>
        <translation>向知识库添加文件</translation>
    </message>
    <message>
        <source>Add a folder to the knowledge base</source>
        <translation>向知识库添加文件夹</translation>
    </message>
</context>
<context>
    <name>KnowledgePanel</name>
    <message>
        <source>Add files…</source>
        <translation>添加文件…</translation>
    </message>
    <message>
        <source>Add folder…</source>
        <translation>添加文件夹…</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>移除</translation>
    </message>
    <message>
        <source>Remove the selected files from the index (Delete); the files stay on disk</source>
        <translation>从索引中移除所选文件（Delete 键）；文件仍保留在磁盘上</translation>
    </message>
    <message>
        <source>Re-scan</source>
        <translation>重新扫描</translation>
    </message>
    <message>
        <source>Look for new, changed and deleted files in this knowledge base&apos;s sources</source>
        <translation>在此知识库的来源中查找新增、修改和删除的文件</translation>
    </message>
    <message>
        <source>Watch this folder for changes</source>
        <translation>监视此文件夹的变化</translation>
    </message>
    <message>
        <source>Folders added while this is on are re-indexed when their files change</source>
        <translation>勾选时添加的文件夹，其中的文件变化后会自动重新索引</translation>
    </message>
    <message>
        <source>No documents yet. Drop files or folders here, or use Add files… / Add folder…</source>
        <translation>还没有文档。把文件或文件夹拖到这里，或使用“添加文件…”/“添加文件夹…”</translation>
    </message>
    <message>
        <source>Documents</source>
        <translation>文档</translation>
    </message>
    <message>
        <source>Create a knowledge base and add documents first.</source>
        <translation>请先创建知识库并添加文档。</translation>
    </message>
    <message>
        <source>A knowledge base named “{name}” already exists.</source>
        <translation>已有名为“{name}”的知识库。</translation>
    </message>
    <message>
        <source>Watching for changes: {folders}</source>
        <translation>正在监视变化：{folders}</translation>
    </message>
    <message>
        <source>{kb}: {indexed} indexed, {unchanged} unchanged, {removed} removed, {failed} failed</source>
        <translation>{kb}：{indexed} 个已索引，{unchanged} 个未变，{removed} 个已移除，{failed} 个失败</translation>
    </message>
    <message>
        <source>Import stopped: {reason}</source>
        <translation>导入已中止：{reason}</translation>
    </message>
    <message>
        <source>Import cancelled.</source>
        <translation>导入已取消。</translation>
    </message>
    <message>
        <source>(the table says why)</source>
        <translation>（原因见表格）</translation>
    </message>
    <message>
        <source>{kb}: {n} chunks re-embedded</source>
        <translation>{kb}：已重新嵌入 {n} 个分块</translation>
    </message>
</context>
<context>
    <name>KnowledgeWorker</name>
    <message>
        <source>Unexpected error while {what}: {error}</source>
        <translation>{what}时发生意外错误：{error}</translation>
    </message>
    <message>
        <source>no knowledge base named “{name}”</source>
        <translation>没有名为“{name}”的知识库</translation>
    </message>
    <message>
        <source>listing knowledge bases</source>
        <translation>列出知识库</translation>
    </message>
    <message>
        <source>listing files</source>
        <translation>列出文件</translation>
    </message>
    <message>
        <source>A knowledge base needs a name.</source>
        <translation>知识库需要一个名称。</translation>
    </message>
    <message>
        <source>A knowledge base named “{name}” already exists.</source>
        <translation>已有名为“{name}”的知识库。</translation>
    </message>
    <message>
        <source>creating a knowledge base</source>
        <translation>创建知识库</translation>
    </message>
    <message>
        <source>importing</source>
        <translation>导入</translation>
    </message>
    <message>
        <source>re-scanning</source>
        <translation>重新扫描</translation>
    </message>
    <message>
        <source>removing files</source>
        <translation>移除文件</translation>
    </message>
    <message>
        <source>deleting a knowledge base</source>
        <translation>删除知识库</translation>
    </message>
    <message>
        <source>searching</source>
        <translation>检索</translation>
    </message>
    <message>
        <source>re-embedding</source>
        <translation>重新嵌入</translation>
    </message>
    <message>
        <source>Cannot watch {folder}: {error}</source>
        <translation>无法监视 {folder}：{error}</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Model (Ctrl+O opens a GGUF file)</source>
        <translation>模型（Ctrl+O 打开 GGUF 文件）</translation>
    </message>
    <message>
        <source>Model:</source>
        <translation>模型：</translation>
    </message>
    <message>
        <source>Which knowledge bases this conversation answers from</source>
        <translation>此对话回答时参考哪些知识库</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>Settings (Ctrl+,)</source>
        <translation>设置（Ctrl+,）</translation>
    </message>
    <message>
        <source>Undo</source>
        <translation>撤销</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>文件(&amp;F)</translation>
    </message>
    <message>
        <source>&amp;New chat</source>
        <translation>新对话(&amp;N)</translation>
    </message>
    <message>
        <source>&amp;Open model…</source>
        <translation>打开模型(&amp;O)…</translation>
    </message>
    <message>
        <source>Add a model on a &amp;server…</source>
        <translation>添加服务器上的模型(&amp;S)…</translation>
    </message>
    <message>
        <source>&amp;Get more models…</source>
        <translation>获取更多模型(&amp;G)…</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>退出(&amp;Q)</translation>
    </message>
    <message>
        <source>&amp;Chat</source>
        <translation>对话(&amp;C)</translation>
    </message>
    <message>
        <source>&amp;Stop</source>
        <translation>停止(&amp;S)</translation>
    </message>
    <message>
        <source>&amp;Regenerate</source>
        <translation>重新生成(&amp;R)</translation>
    </message>
    <message>
        <source>&amp;Edit last message</source>
        <translation>编辑上一条消息(&amp;E)</translation>
    </message>
    <message>
        <source>&amp;Copy last reply</source>
        <translation>复制最后一条回复(&amp;C)</translation>
    </message>
    <message>
        <source>Undo &amp;delete</source>
        <translation>撤销删除(&amp;D)</translation>
    </message>
    <message>
        <source>&amp;View</source>
        <translation>视图(&amp;V)</translation>
    </message>
    <message>
        <source>Toggle &amp;sidebar</source>
        <translation>显示/隐藏侧边栏(&amp;S)</translation>
    </message>
    <message>
        <source>&amp;Search conversations</source>
        <translation>搜索对话(&amp;F)</translation>
    </message>
    <message>
        <source>Focus &amp;input</source>
        <translation>转到输入框(&amp;I)</translation>
    </message>
    <message>
        <source>&amp;Knowledge base panel</source>
        <translation>知识库面板(&amp;K)</translation>
    </message>
    <message>
        <source>&amp;Concept panel</source>
        <translation>概念面板(&amp;C)</translation>
    </message>
    <message>
        <source>Co&amp;mpare models…</source>
        <translation>模型对比(&amp;M)…</translation>
    </message>
    <message>
        <source>&amp;Settings</source>
        <translation>设置(&amp;S)</translation>
    </message>
    <message>
        <source>&amp;Preferences…</source>
        <translation>首选项(&amp;P)…</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>帮助(&amp;H)</translation>
    </message>
    <message>
        <source>&amp;About Mingjing</source>
        <translation>关于明镜(&amp;A)</translation>
    </message>
    <message>
        <source>About Mingjing</source>
        <translation>关于明镜</translation>
    </message>
    <message>
        <source>&lt;b&gt;明镜 Mingjing&lt;/b&gt;&lt;br&gt;A private assistant that runs a language model on your own computer and shows what it does.&lt;br&gt;Python %s</source>
        <translation>&lt;b&gt;明镜 Mingjing&lt;/b&gt;&lt;br&gt;在你自己的电脑上运行语言模型、并让你看清它在做什么的私人助手。&lt;br&gt;Python %s</translation>
    </message>
</context>
<context>
    <name>MessageWidget</name>
    <message>
        <source>Edit</source>
        <translation>编辑</translation>
    </message>
    <message>
        <source>Edit this message and resend</source>
        <translation>编辑此消息并重新发送</translation>
    </message>
    <message>
        <source>Regenerate</source>
        <translation>重新生成</translation>
    </message>
    <message>
        <source>Ask for a new reply</source>
        <translation>让模型重新回复</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>复制</translation>
    </message>
    <message>
        <source>Copy the message as Markdown</source>
        <translation>以 Markdown 格式复制此消息</translation>
    </message>
    <message>
        <source>Copied</source>
        <translation>已复制</translation>
    </message>
    <message>
        <source>The knowledge base has no passage relevant to this question: this reply is not from it.</source>
        <translation>知识库里没有与这个问题相关的段落：这条回答并非来自知识库。</translation>
    </message>
    <message>
        <source>The best passage&apos;s similarity %1 is below the threshold %2</source>
        <translation>最相关段落的相似度 %1 低于阈值 %2</translation>
    </message>
    <message>
        <source>Sources given to the model:</source>
        <translation>提供给模型的来源：</translation>
    </message>
    <message>
        <source>Click a source to open it at the passage</source>
        <translation>点击来源即可打开并定位到该段落</translation>
    </message>
    <message>
        <source>[%1] cites a source the model was not given: only %2 source(s) were in the prompt</source>
        <translation>[%1] 引用了一个没有给模型的来源：提示词里只有 %2 个来源</translation>
    </message>
    <message>
        <source>You</source>
        <translation>你</translation>
    </message>
    <message>
        <source>Assistant</source>
        <translation>助手</translation>
    </message>
    <message>
        <source>System</source>
        <translation>系统</translation>
    </message>
    <message>
        <source>Generating…</source>
        <translation>正在生成…</translation>
    </message>
    <message>
        <source>Interrupted — the reply was cut off</source>
        <translation>已中断 — 回复被截断</translation>
    </message>
    <message>
        <source>Error: {0}</source>
        <translation>错误：{0}</translation>
    </message>
    <message>
        <source>Error</source>
        <translation>错误</translation>
    </message>
    <message>
        <source>Stopped</source>
        <translation>已停止</translation>
    </message>
</context>
<context>
    <name>ModelCard</name>
    <message>
        <source>No model loaded yet.</source>
        <translation>尚未加载模型。</translation>
    </message>
    <message>
        <source>Yes: it answers in turns</source>
        <translation>有：按对话轮次回答</translation>
    </message>
    <message>
        <source>None: a base model, it continues text</source>
        <translation>无：基础模型，只会续写文本</translation>
    </message>
    <message>
        <source>%1 tokens</source>
        <translation>%1 个词元</translation>
    </message>
    <message>
        <source>about %1 (weights %2 + KV cache %3)</source>
        <translation>约 %1（权重 %2 + KV 缓存 %3）</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>未知</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Architecture</source>
        <translation>架构</translation>
    </message>
    <message>
        <source>The network design llama.cpp runs (layers of attention and feed-forward blocks).</source>
        <translation>llama.cpp 运行的网络结构（由注意力层和前馈层堆叠而成）。</translation>
    </message>
    <message>
        <source>Parameters</source>
        <translation>参数量</translation>
    </message>
    <message>
        <source>The learned numbers (weights). More usually means more capable, bigger and slower.</source>
        <translation>模型学到的数值（权重）。通常越多越强，也越大越慢。</translation>
    </message>
    <message>
        <source>Quantization</source>
        <translation>量化</translation>
    </message>
    <message>
        <source>%1, %2 bits per weight</source>
        <translation>%1，每个权重 %2 位</translation>
    </message>
    <message>
        <source>Weights stored with fewer bits than the 16 they were trained in: smaller and faster, slightly less precise.</source>
        <translation>权重以少于训练时 16 位的位数存储：更小更快，精度略有下降。</translation>
    </message>
    <message>
        <source>File size</source>
        <translation>文件大小</translation>
    </message>
    <message>
        <source>Roughly the memory the weights take once loaded.</source>
        <translation>大致等于加载后权重所占的内存。</translation>
    </message>
    <message>
        <source>Trained context</source>
        <translation>训练上下文</translation>
    </message>
    <message>
        <source>The longest text the model saw in training; beyond it quality drops.</source>
        <translation>模型训练时见过的最长文本；超出后质量会下降。</translation>
    </message>
    <message>
        <source>Context in use</source>
        <translation>当前上下文</translation>
    </message>
    <message>
        <source>The window chosen in Settings: how much the model can see at once.</source>
        <translation>在设置中选择的窗口大小：模型一次能看到多少内容。</translation>
    </message>
    <message>
        <source>Chat template</source>
        <translation>聊天模板</translation>
    </message>
    <message>
        <source>Instruction-tuned models come with a template that marks whose turn it is; pretrained (base) models have none and just continue text.</source>
        <translation>指令微调模型带有标明轮到谁说话的模板；预训练（基础）模型没有模板，只会续写文本。</translation>
    </message>
    <message>
        <source>Vocabulary</source>
        <translation>词表</translation>
    </message>
    <message>
        <source>How many different tokens the tokenizer knows.</source>
        <translation>分词器认识的不同词元的数量。</translation>
    </message>
    <message>
        <source>Layers</source>
        <translation>层数</translation>
    </message>
    <message>
        <source>Transformer blocks; each one refines every token&apos;s representation.</source>
        <translation>Transformer 块的数量；每一层都会细化每个词元的表示。</translation>
    </message>
    <message>
        <source>Memory estimate</source>
        <translation>内存估计</translation>
    </message>
    <message>
        <source>Weights plus the KV cache, which stores each token of the window for every layer and grows with the context size.</source>
        <translation>权重加上 KV 缓存。KV 缓存为每一层保存窗口中的每个词元，随上下文大小增长。</translation>
    </message>
    <message>
        <source>Runs on</source>
        <translation>运行位置</translation>
    </message>
    <message>
        <source>Layers on a GPU run there with their part of the KV cache; the rest, and the token embedding, stay in main memory. The number of layers is planned from each layer&apos;s size, the cache and the GPU&apos;s free memory (Settings → GPU layers).</source>
        <translation>放到 GPU 上的层连同它们那部分 KV 缓存在 GPU 上运行；其余的层和词元嵌入留在内存中。层数根据每层的大小、缓存和 GPU 的空闲显存规划（设置 → GPU 层数）。</translation>
    </message>
    <message>
        <source>CPU variant %1: %2</source>
        <translation>CPU 变体 %1：%2</translation>
    </message>
    <message>
        <source>CPU: %1</source>
        <translation>处理器：%1</translation>
    </message>
    <message>
        <source>GPU backend: %1</source>
        <translation>GPU 后端：%1</translation>
    </message>
    <message>
        <source>GPU backend %1 left out: %2</source>
        <translation>未启用 GPU 后端 %1：%2</translation>
    </message>
    <message>
        <source>Engine</source>
        <translation>推理引擎</translation>
    </message>
    <message>
        <source>The instruction sets llama.cpp uses on this processor: wider vector instructions (AVX2, AVX-512) multiply more numbers per step.</source>
        <translation>llama.cpp 在这颗处理器上使用的指令集：更宽的向量指令（AVX2、AVX-512）每一步能同时乘更多的数。</translation>
    </message>
    <message>
        <source>CPU only</source>
        <translation>仅 CPU</translation>
    </message>
    <message>
        <source>%1 (%2): %3 of %4 layers, about %5 there and %6 in main memory; %7 free on the GPU</source>
        <translation>%1（%2）：%4 层中的 %3 层，GPU 上约 %5，内存中 %6；GPU 空闲 %7</translation>
    </message>
    <message>
        <source>The model&apos;s name on the server.</source>
        <translation>模型在服务器上的名称。</translation>
    </message>
    <message>
        <source>Server</source>
        <translation>服务器</translation>
    </message>
    <message>
        <source>An OpenAI-compatible server runs this model. Your documents stay on this computer: only the prompt, with the passages retrieved for it, is sent.</source>
        <translation>这个模型运行在一台兼容 OpenAI 接口的服务器上。你的文档留在本机：只有提示词（连同为它检索到的段落）会被发送。</translation>
    </message>
    <message>
        <source>As the server reports it; where it does not say, the context size in Settings.</source>
        <translation>按服务器报告的值；服务器未说明时，取设置中的上下文大小。</translation>
    </message>
    <message>
        <source>The server applies the model&apos;s template to the messages it is sent.</source>
        <translation>服务器会把模型的模板套用到发给它的消息上。</translation>
    </message>
    <message>
        <source>Token counts</source>
        <translation>词元计数</translation>
    </message>
    <message>
        <source>Exact: counted here by the built-in copy of this model</source>
        <translation>精确：由本机内置的同一模型计数</translation>
    </message>
    <message>
        <source>Exact: the server tokenizes</source>
        <translation>精确：由服务器分词</translation>
    </message>
    <message>
        <source>Estimated: the server does not count tokens</source>
        <translation>估计值：服务器不提供词元计数</translation>
    </message>
    <message>
        <source>Exact counts come from the server&apos;s own tokenizer; otherwise about one token per Chinese character and per four other characters, corrected from the server&apos;s count after each reply.</source>
        <translation>精确计数来自服务器自己的分词器；否则按每个汉字约一个词元、其他字符每四个约一个词元估算，并在每次回复后用服务器的计数校正。</translation>
    </message>
    <message>
        <source>Next-token candidates</source>
        <translation>下一个词元的候选</translation>
    </message>
    <message>
        <source>From the server&apos;s top_logprobs</source>
        <translation>来自服务器的 top_logprobs</translation>
    </message>
    <message>
        <source>Not offered by this server</source>
        <translation>此服务器不提供</translation>
    </message>
    <message>
        <source>The probabilities the model gave the likely next tokens at each step.</source>
        <translation>每一步模型给可能的下一个词元的概率。</translation>
    </message>
</context>
<context>
    <name>ModelController</name>
    <message>
        <source>%s (built-in, chat)</source>
        <translation>%s（内置，对话）</translation>
    </message>
    <message>
        <source>%s (built-in, base model)</source>
        <translation>%s（内置，基础模型）</translation>
    </message>
    <message>
        <source>Instruction-tuned: it answers.</source>
        <translation>指令微调模型：它会回答。</translation>
    </message>
    <message>
        <source>Pretrained only: it continues text.</source>
        <translation>仅预训练：它只会续写文本。</translation>
    </message>
    <message>
        <source>%s (on %s)</source>
        <translation>%s（位于 %s）</translation>
    </message>
    <message>
        <source>model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>A model on an OpenAI-compatible server: %s</source>
        <translation>兼容 OpenAI 接口的服务器上的模型：%s</translation>
    </message>
    <message>
        <source>Open model file…</source>
        <translation>打开模型文件…</translation>
    </message>
    <message>
        <source>Add a model on a server…</source>
        <translation>添加服务器上的模型…</translation>
    </message>
    <message>
        <source>llama.cpp&apos;s llama-server, vLLM, Ollama, LM Studio or another Mingjing: any OpenAI-compatible server</source>
        <translation>llama.cpp 的 llama-server、vLLM、Ollama、LM Studio 或另一个明镜：任何兼容 OpenAI 接口的服务器</translation>
    </message>
    <message>
        <source>Get more models…</source>
        <translation>获取更多模型…</translation>
    </message>
    <message>
        <source>Open a GGUF model</source>
        <translation>打开 GGUF 模型</translation>
    </message>
    <message>
        <source>GGUF models (*.gguf);;All files (*)</source>
        <translation>GGUF 模型 (*.gguf);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Loading %s…</source>
        <translation>正在加载 %s…</translation>
    </message>
    <message>
        <source>chat</source>
        <translation>对话</translation>
    </message>
    <message>
        <source>base model: continues text</source>
        <translation>基础模型：续写文本</translation>
    </message>
    <message>
        <source>on a server</source>
        <translation>在服务器上</translation>
    </message>
    <message>
        <source>context: %d tokens</source>
        <translation>上下文：%d 个词元</translation>
    </message>
    <message>
        <source>%s, %s parameters, %.2f bits/weight</source>
        <translation>%s，%s 个参数，每个权重 %.2f 位</translation>
    </message>
    <message>
        <source>context in use: %d tokens (trained: %s)</source>
        <translation>当前上下文窗口：%d 个词元（训练时：%s）</translation>
    </message>
    <message>
        <source>&lt;b&gt;Base model.&lt;/b&gt; %s has no chat template: it was only pretrained, so it continues whatever text you give it instead of answering. Type the start of a text. To chat, pick the built-in chat model in the Model list.</source>
        <translation>&lt;b&gt;基础模型。&lt;/b&gt;%s 没有对话模板：它只经过预训练，所以会续写你给它的任何文本，而不是回答问题。请输入一段文字的开头。如需对话，请在“模型”列表中选择内置的对话模型。</translation>
    </message>
    <message>
        <source>Model loaded in %.1f s.</source>
        <translation>模型已加载，用时 %.1f 秒。</translation>
    </message>
    <message>
        <source>%1 of %2 layers on %3.</source>
        <translation>%2 层中的 %1 层在 %3 上。</translation>
    </message>
    <message>
        <source>Kept %s loaded.</source>
        <translation>继续使用已加载的 %s。</translation>
    </message>
    <message>
        <source>No model loaded.</source>
        <translation>未加载模型。</translation>
    </message>
    <message>
        <source>Could not load the model</source>
        <translation>无法加载模型</translation>
    </message>
    <message>
        <source>Loading the model…</source>
        <translation>正在加载模型…</translation>
    </message>
    <message>
        <source>Type the beginning of a text, for example “The capital of France is”, and the model will continue it.</source>
        <translation>输入一段文字的开头，例如“法国的首都是”，模型会接着写下去。</translation>
    </message>
    <message>
        <source>Type a message below.</source>
        <translation>在下方输入消息。</translation>
    </message>
</context>
<context>
    <name>ModelWorker</name>
    <message>
        <source>%s: unexpected error: %s</source>
        <translation>%s：意外错误：%s</translation>
    </message>
    <message>
        <source>unexpected error: %s</source>
        <translation>意外错误：%s</translation>
    </message>
</context>
<context>
    <name>ModelsWindow</name>
    <message>
        <source>Models</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Catalog</source>
        <translation>模型目录</translation>
    </message>
    <message>
        <source>Downloads</source>
        <translation>下载</translation>
    </message>
    <message>
        <source>Library</source>
        <translation>本机模型</translation>
    </message>
    <message>
        <source>Search: qwen 7b, 中文, llama…</source>
        <translation>搜索：qwen 7b、中文、llama…</translation>
    </message>
    <message>
        <source>Automatic (by language)</source>
        <translation>自动（按语言）</translation>
    </message>
    <message>
        <source>Hugging Face mirror</source>
        <translation>Hugging Face 镜像</translation>
    </message>
    <message>
        <source>ModelScope (魔搭)</source>
        <translation>ModelScope（魔搭）</translation>
    </message>
    <message>
        <source>Download from:</source>
        <translation>下载来源：</translation>
    </message>
    <message>
        <source>A Hugging Face mirror&apos;s address (empty: HF_ENDPOINT if set, else hf-mirror.com)</source>
        <translation>Hugging Face 镜像站地址（留空：若设置了 HF_ENDPOINT 则用它，否则用 hf-mirror.com）</translation>
    </message>
    <message>
        <source>only for gated models</source>
        <translation>仅受限模型需要</translation>
    </message>
    <message>
        <source>Sent to huggingface.co only: never to a mirror or to ModelScope.</source>
        <translation>只发送给 huggingface.co：绝不发送给镜像站或 ModelScope。</translation>
    </message>
    <message>
        <source>Mirror:</source>
        <translation>镜像站：</translation>
    </message>
    <message>
        <source>Hugging Face token:</source>
        <translation>Hugging Face 令牌：</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Parameters</source>
        <translation>参数量</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>大小</translation>
    </message>
    <message>
        <source>Fits?</source>
        <translation>能运行吗？</translation>
    </message>
    <message>
        <source>About</source>
        <translation>简介</translation>
    </message>
    <message>
        <source>File</source>
        <translation>文件</translation>
    </message>
    <message>
        <source>Progress</source>
        <translation>进度</translation>
    </message>
    <message>
        <source>Speed</source>
        <translation>速度</translation>
    </message>
    <message>
        <source>Time left</source>
        <translation>剩余时间</translation>
    </message>
    <message>
        <source>Nothing is downloading.</source>
        <translation>当前没有下载。</translation>
    </message>
    <message>
        <source>Where from</source>
        <translation>来源</translation>
    </message>
    <message>
        <source>Quantization</source>
        <translation>量化</translation>
    </message>
    <message>
        <source>Last used</source>
        <translation>上次使用</translation>
    </message>
    <message>
        <source>Offline: cannot reach %s. The catalog is shown; downloads need the network (they resume where they stopped).</source>
        <translation>离线：无法连接 %s。目录照常显示；下载需要网络（恢复联网后会从中断处继续）。</translation>
    </message>
    <message>
        <source>Unexpected error (details in the log).</source>
        <translation>意外错误（详情见日志）。</translation>
    </message>
    <message>
        <source>Fits</source>
        <translation>可以运行</translation>
    </message>
    <message>
        <source>Tight</source>
        <translation>内存偏紧</translation>
    </message>
    <message>
        <source>Too big</source>
        <translation>放不下</translation>
    </message>
    <message>
        <source>Downloaded</source>
        <translation>已下载</translation>
    </message>
    <message>
        <source>Download</source>
        <translation>下载</translation>
    </message>
    <message>
        <source>Fit for a context of %1 tokens (Settings), with %2 GiB free of %3 GiB. Hover a label for the numbers.</source>
        <translation>按 %1 个词元的上下文（设置中的值）估算，本机可用内存 %2 GiB / 共 %3 GiB。把鼠标停在标签上可查看具体数字。</translation>
    </message>
    <message>
        <source>Needs about %1 GiB: weights %2 GiB + KV cache %3 GiB for %4 tokens + working memory %5 GiB.
This computer: %6 GiB free of %7 GiB.</source>
        <translation>约需 %1 GiB：权重 %2 GiB + %4 个词元的 KV 缓存 %3 GiB + 运行内存 %5 GiB。
本机：可用 %6 GiB / 共 %7 GiB。</translation>
    </message>
    <message>
        <source>Built in</source>
        <translation>内置</translation>
    </message>
    <message>
        <source>Opened</source>
        <translation>打开过</translation>
    </message>
    <message>
        <source>Use</source>
        <translation>使用</translation>
    </message>
    <message>
        <source>Show in folder</source>
        <translation>在文件夹中显示</translation>
    </message>
    <message>
        <source>Delete…</source>
        <translation>删除…</translation>
    </message>
    <message>
        <source>Unfinished: %s</source>
        <translation>未完成：%s</translation>
    </message>
    <message>
        <source>The mirror must be an http(s) address.</source>
        <translation>镜像站必须是 http(s) 地址。</translation>
    </message>
    <message>
        <source>A token has no spaces.</source>
        <translation>令牌中不能有空格。</translation>
    </message>
    <message>
        <source>Queued</source>
        <translation>排队中</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>继续</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Checking what is there… %1 %</source>
        <translation>正在校验已下载部分… %1 %</translation>
    </message>
    <message>
        <source>%1 % (%2)</source>
        <translation>%1 %（来自 %2）</translation>
    </message>
    <message>
        <source>Retrying: %2</source>
        <translation>正在重试：%2</translation>
    </message>
    <message>
        <source>Verifying…</source>
        <translation>正在校验…</translation>
    </message>
    <message>
        <source>the mirror</source>
        <translation>镜像站</translation>
    </message>
    <message>
        <source>the address given</source>
        <translation>指定的地址</translation>
    </message>
    <message>
        <source>Done: verified (sha256)</source>
        <translation>完成：已校验（sha256）</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <source>Stopped: what arrived is kept</source>
        <translation>已停止：已下载部分保留</translation>
    </message>
    <message>
        <source>Delete the model?</source>
        <translation>删除这个模型？</translation>
    </message>
    <message>
        <source>Delete %1 (%2) from the disk? It can be downloaded again.</source>
        <translation>从磁盘删除 %1（%2）？之后可以重新下载。</translation>
    </message>
</context>
<context>
    <name>PromptView</name>
    <message>
        <source>Show special tokens</source>
        <translation>显示特殊词元</translation>
    </message>
    <message>
        <source>Special (control) tokens such as &lt;|im_start|&gt; or &lt;start_of_turn&gt; mark turns and roles; the model sees them like any other token.</source>
        <translation>特殊（控制）词元如 &lt;|im_start|&gt; 或 &lt;start_of_turn&gt; 用来标记轮次和角色；模型像看待其他词元一样看到它们。</translation>
    </message>
    <message>
        <source>The prompt appears here once there is something to send.</source>
        <translation>有内容可发送时，提示词会显示在这里。</translation>
    </message>
    <message>
        <source>Token id</source>
        <translation>词元 ID</translation>
    </message>
    <message>
        <source>Position</source>
        <translation>位置</translation>
    </message>
    <message>
        <source>Bytes</source>
        <translation>字节</translation>
    </message>
    <message>
        <source>(none)</source>
        <translation>（无）</translation>
    </message>
    <message>
        <source>Piece</source>
        <translation>片段</translation>
    </message>
    <message>
        <source>part of a character: its UTF-8 bytes are split across tokens</source>
        <translation>字符的一部分：它的 UTF-8 字节被拆分到多个词元中</translation>
    </message>
    <message>
        <source>Special token</source>
        <translation>特殊词元</translation>
    </message>
    <message numerus="yes">
        <source>%n token(s)</source>
        <translation>
            <numerusform>%n 个词元</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n special</source>
        <translation>
            <numerusform>%n 个特殊词元</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>RetrievalTest</name>
    <message>
        <source>Test retrieval</source>
        <translation>检索测试</translation>
    </message>
    <message>
        <source>Ask a question to see what would be retrieved</source>
        <translation>输入一个问题，看看会检索到哪些内容</translation>
    </message>
    <message>
        <source>#</source>
        <translation>#</translation>
    </message>
    <message>
        <source>File</source>
        <translation>文件</translation>
    </message>
    <message>
        <source>Vector</source>
        <translation>向量</translation>
    </message>
    <message>
        <source>Keyword</source>
        <translation>关键词</translation>
    </message>
    <message>
        <source>Matched terms</source>
        <translation>匹配词</translation>
    </message>
    <message>
        <source>Location</source>
        <translation>位置</translation>
    </message>
    <message>
        <source>Cosine similarity of the passage to the question (rank)</source>
        <translation>段落与问题的余弦相似度（名次）</translation>
    </message>
    <message>
        <source>BM25 keyword score (rank); – when no keyword matched</source>
        <translation>BM25 关键词得分（名次）；没有匹配的关键词时显示 –</translation>
    </message>
    <message>
        <source>Select a result to read the passage that would be given to the model</source>
        <translation>选择一条结果，阅读将提供给模型的段落</translation>
    </message>
    <message>
        <source>Searching…</source>
        <translation>正在检索…</translation>
    </message>
    <message>
        <source>Nothing in this knowledge base matches.</source>
        <translation>此知识库中没有匹配的内容。</translation>
    </message>
    <message>
        <source>[{rank}] {file} — {location}</source>
        <translation>[{rank}] {file} — {location}</translation>
    </message>
</context>
<context>
    <name>RetrievalView</name>
    <message>
        <source>Turn on a knowledge base (toolbar: Knowledge) and ask a question to see which passages were found and why.</source>
        <translation>开启一个知识库（工具栏：知识库）并提出问题，即可看到找到了哪些段落以及原因。</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>来源</translation>
    </message>
    <message>
        <source>Vector</source>
        <translation>向量</translation>
    </message>
    <message>
        <source>Keyword</source>
        <translation>关键词</translation>
    </message>
    <message>
        <source>Fused</source>
        <translation>融合</translation>
    </message>
    <message>
        <source>Terms</source>
        <translation>词语</translation>
    </message>
    <message>
        <source>Tokens</source>
        <translation>词元</translation>
    </message>
    <message>
        <source>Used</source>
        <translation>已用</translation>
    </message>
    <message>
        <source>The document and where in it the passage is</source>
        <translation>文档以及段落在文档中的位置</translation>
    </message>
    <message>
        <source>Cosine similarity of the question&apos;s and the passage&apos;s embeddings (meaning), and its rank among the vector results</source>
        <translation>问题与段落嵌入向量的余弦相似度（含义），以及它在向量结果中的排名</translation>
    </message>
    <message>
        <source>BM25 keyword score over jieba-segmented words, and its rank among the keyword results</source>
        <translation>基于 jieba 分词的 BM25 关键词得分，以及它在关键词结果中的排名</translation>
    </message>
    <message>
        <source>Position after reciprocal rank fusion of the two rankings</source>
        <translation>两种排名经倒数排名融合（RRF）后的位置</translation>
    </message>
    <message>
        <source>Words of the question found in the passage</source>
        <translation>问题中在段落里出现的词语</translation>
    </message>
    <message>
        <source>Tokens the passage takes in the chat model&apos;s tokenizer</source>
        <translation>该段落在聊天模型分词器下占用的词元数</translation>
    </message>
    <message>
        <source>Passages go into the prompt in fused order while they fit the budget</source>
        <translation>段落按融合顺序放入提示词，直到超出预算</translation>
    </message>
    <message>
        <source>“%1”: %2 passage(s) found, %3 in the prompt (%4 of %5 budget tokens). Double-click a row to open the passage.</source>
        <translation>“%1”：找到 %2 个段落，%3 个放入提示词（占预算 %5 个词元中的 %4 个）。双击某行可打开该段落。</translation>
    </message>
    <message>
        <source>Searched as written and together with its translation by the model (the knowledge base holds the other language), each passage keeping its better rank: “%1”</source>
        <translation>按原问题检索，并连同模型的译文再检索一次（知识库中有另一种语言的内容），每段取两次中较好的排名：“%1”</translation>
    </message>
    <message numerus="yes">
        <source>The model translated it after reading the opening words of the %n best passage(s) in that language, to use the documents&apos; wording.</source>
        <translation>
            <numerusform>模型先读了该语言中排名最前的 %n 段文字的开头，再翻译，以便沿用文档的用词。</numerusform>
        </translation>
    </message>
    <message>
        <source>No passage is relevant enough: the best vector similarity, %1, is below the no-answer threshold %2, so none went into the prompt and the model was told the knowledge base has no answer.</source>
        <translation>没有足够相关的段落：最高的向量相似度 %1 低于“无答案”阈值 %2，所以没有段落放进提示词，模型也被告知知识库里没有答案。</translation>
    </message>
    <message>
        <source>fused score %.4f</source>
        <translation>融合得分 %.4f</translation>
    </message>
    <message>
        <source>ranked by the question with its translation</source>
        <translation>由“问题 + 译文”的检索排出</translation>
    </message>
    <message>
        <source>ranked by the question as written</source>
        <translation>由原问题的检索排出</translation>
    </message>
    <message>
        <source>in the prompt</source>
        <translation>已放入提示词</translation>
    </message>
    <message>
        <source>left out: over the budget</source>
        <translation>被舍弃：超出预算</translation>
    </message>
</context>
<context>
    <name>ServerController</name>
    <message>
        <source>The API server could not start: %s</source>
        <translation>API 服务无法启动：%s</translation>
    </message>
    <message>
        <source>API :%d</source>
        <translation>API 端口 %d</translation>
    </message>
    <message>
        <source>The OpenAI-compatible API is served at %s</source>
        <translation>兼容 OpenAI 的 API 服务地址：%s</translation>
    </message>
    <message>
        <source>API server on %s</source>
        <translation>API 服务已开启：%s</translation>
    </message>
    <message>
        <source>Waiting for the model: it is answering a request to the API…</source>
        <translation>等待模型：它正在回答一个 API 请求…</translation>
    </message>
</context>
<context>
    <name>ServerDialog</name>
    <message>
        <source>Add a model on a server</source>
        <translation>添加服务器上的模型</translation>
    </message>
    <message>
        <source>empty if the server needs none</source>
        <translation>服务器不需要时留空</translation>
    </message>
    <message>
        <source>List its models</source>
        <translation>列出它的模型</translation>
    </message>
    <message>
        <source>Your documents stay here: only the prompt (with the passages retrieved for it) goes to the server.</source>
        <translation>你的文档留在本机：只有提示词（连同为它检索到的段落）会发送到服务器。</translation>
    </message>
    <message>
        <source>Server address:</source>
        <translation>服务器地址：</translation>
    </message>
    <message>
        <source>API key:</source>
        <translation>API 密钥：</translation>
    </message>
    <message>
        <source>Model:</source>
        <translation>模型：</translation>
    </message>
    <message>
        <source>Asking the server…</source>
        <translation>正在询问服务器…</translation>
    </message>
    <message numerus="yes">
        <source>%n model(s) on this server.</source>
        <translation>
            <numerusform>此服务器上有 %n 个模型。</numerusform>
        </translation>
    </message>
    <message>
        <source>Unexpected error (details in the log).</source>
        <translation>意外错误（详情见日志）。</translation>
    </message>
</context>
<context>
    <name>SettingsController</name>
    <message>
        <source>Language changed</source>
        <translation>语言已更改</translation>
    </message>
    <message>
        <source>Restart Mingjing now to show the new language?</source>
        <translation>现在重启明镜以切换语言？</translation>
    </message>
    <message>
        <source>Restart now</source>
        <translation>立即重启</translation>
    </message>
    <message>
        <source>Later</source>
        <translation>稍后</translation>
    </message>
    <message>
        <source>Could not restart</source>
        <translation>无法重启</translation>
    </message>
    <message>
        <source>Please start Mingjing again yourself.</source>
        <translation>请手动重新启动明镜。</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>Optional instructions for every reply</source>
        <translation>可选：每次回复都要遵循的指示</translation>
    </message>
    <message>
        <source>System prompt</source>
        <translation>系统提示词</translation>
    </message>
    <message>
        <source>Sampling</source>
        <translation>采样</translation>
    </message>
    <message>
        <source>0 always picks the most likely token</source>
        <translation>为 0 时总是选择概率最高的词元</translation>
    </message>
    <message>
        <source>0 keeps every candidate</source>
        <translation>为 0 时保留所有候选</translation>
    </message>
    <message>
        <source>random</source>
        <translation>随机</translation>
    </message>
    <message>
        <source>Temperature</source>
        <translation>温度</translation>
    </message>
    <message>
        <source>Top-p</source>
        <translation>Top-p</translation>
    </message>
    <message>
        <source>Top-k</source>
        <translation>Top-k</translation>
    </message>
    <message>
        <source>Min-p</source>
        <translation>Min-p</translation>
    </message>
    <message>
        <source>Repeat penalty</source>
        <translation>重复惩罚</translation>
    </message>
    <message>
        <source>Max reply tokens</source>
        <translation>回复最大词元数</translation>
    </message>
    <message>
        <source>Seed</source>
        <translation>随机种子</translation>
    </message>
    <message>
        <source>Model (changes reload the model)</source>
        <translation>模型（更改后会重新加载模型）</translation>
    </message>
    <message>
        <source>auto (all that fit)</source>
        <translation>自动（放得下的全部）</translation>
    </message>
    <message>
        <source>How many of the model&apos;s layers run on the GPU: auto plans it at each load from the layers&apos; sizes, the KV cache and the GPU&apos;s free memory; 0 keeps everything on the CPU.</source>
        <translation>模型有多少层在 GPU 上运行：“自动”在每次加载时根据各层大小、KV 缓存和 GPU 空闲显存来规划；0 表示全部留在 CPU 上。</translation>
    </message>
    <message>
        <source>Automatic (the GPU with the most free memory)</source>
        <translation>自动（空闲显存最多的 GPU）</translation>
    </message>
    <message>
        <source>CPU only</source>
        <translation>仅 CPU</translation>
    </message>
    <message>
        <source>%1: %2 (%3 free of %4)</source>
        <translation>%1：%2（%4 中空闲 %3）</translation>
    </message>
    <message>
        <source>llama.cpp sees no GPU here: this build runs on the CPU (a GPU build: `make gpu`, see the README).</source>
        <translation>llama.cpp 在这里看不到 GPU：此版本在 CPU 上运行（GPU 版本：`make gpu`，见 README）。</translation>
    </message>
    <message>
        <source>Remembered for each model.</source>
        <translation>每个模型分别记住。</translation>
    </message>
    <message>
        <source>Model&apos;s own (base models continue text)</source>
        <translation>模型自带（基础模型续写文本）</translation>
    </message>
    <message>
        <source>Plain text continuation</source>
        <translation>纯文本续写</translation>
    </message>
    <message>
        <source>Gemma turns</source>
        <translation>Gemma 对话轮次</translation>
    </message>
    <message>
        <source>ChatML</source>
        <translation>ChatML</translation>
    </message>
    <message>
        <source>Context size (tokens)</source>
        <translation>上下文窗口（词元）</translation>
    </message>
    <message>
        <source>CPU threads</source>
        <translation>CPU 线程数</translation>
    </message>
    <message>
        <source>Device (this model)</source>
        <translation>设备（此模型）</translation>
    </message>
    <message>
        <source>GPU layers</source>
        <translation>GPU 层数</translation>
    </message>
    <message>
        <source>no limit</source>
        <translation>不限制</translation>
    </message>
    <message>
        <source>The most GPU memory a model may take (its layers, their KV cache and working buffers): auto offloads fewer layers to stay under it, leaving the rest of the GPU to other programs.</source>
        <translation>一个模型最多可占用的 GPU 显存（它的层、这些层的 KV 缓存和工作缓冲区）：“自动”会少放一些层以保持在此之下，把其余显存留给其他程序。</translation>
    </message>
    <message>
        <source>GPU memory limit</source>
        <translation>GPU 显存上限</translation>
    </message>
    <message>
        <source>Chat format</source>
        <translation>对话模板</translation>
    </message>
    <message>
        <source>Speculative decoding (greedy replies)</source>
        <translation>推测解码（贪心回复）</translation>
    </message>
    <message>
        <source>Drafts the next tokens from the prompt, or with a smaller model of the same family when one is installed, and checks them in one batch: often much faster when the answer quotes its sources. Rarely, where two tokens are almost equally likely, the reply can differ from plain decoding.</source>
        <translation>从提示词中（或在装有同系列更小模型时由它）预先起草后面几个词元，再一次批量核对：回答引用资料原文时往往快得多。极少数情况下，当两个词元的概率几乎相同时，回复可能与逐个解码不同。</translation>
    </message>
    <message numerus="yes">
        <source>Default threads on this computer: %n</source>
        <translation>
            <numerusform>本机默认线程数：%n</numerusform>
        </translation>
    </message>
    <message>
        <source>Interface</source>
        <translation>界面</translation>
    </message>
    <message>
        <source>The new language shows fully after Mingjing restarts</source>
        <translation>重启明镜后，新语言才会完全生效</translation>
    </message>
    <message>
        <source>Language / 语言</source>
        <translation>语言 / Language</translation>
    </message>
    <message>
        <source>Knowledge bases</source>
        <translation>知识库</translation>
    </message>
    <message>
        <source>Translate the question first when a knowledge base holds the other language</source>
        <translation>知识库里有另一种语言的资料时，先翻译问题再检索</translation>
    </message>
    <message>
        <source>The chat model translates a Chinese question into English (or an English one into Chinese) and both are searched: about a second on an ordinary CPU, and passages in the other language are found far more often</source>
        <translation>由对话模型把中文问题译成英文（或把英文问题译成中文），原文和译文一起检索：在普通 CPU 上约多花一秒，但另一种语言的段落能被找到的次数多得多</translation>
    </message>
</context>
<context>
    <name>SourceViewer</name>
    <message>
        <source>Source [%d]: %s</source>
        <translation>来源 [%d]：%s</translation>
    </message>
    <message>
        <source>Loading the document…</source>
        <translation>正在加载文档…</translation>
    </message>
    <message>
        <source>Open file</source>
        <translation>打开文件</translation>
    </message>
    <message>
        <source>The file changed since it was indexed; showing the indexed passage.</source>
        <translation>文件在建立索引后已被修改；这里显示的是索引中的段落。</translation>
    </message>
    <message>
        <source>The highlighted passage is what the model was given; the darker sentence supports “%1”.</source>
        <translation>高亮的段落是给模型的内容；颜色更深的句子支持“%1”。</translation>
    </message>
    <message>
        <source>The highlighted passage is what the model was given.</source>
        <translation>高亮部分就是提供给模型的段落。</translation>
    </message>
    <message>
        <source>Could not open the document (%s); showing the indexed passage.</source>
        <translation>无法打开文档（%s）；这里显示的是索引中的段落。</translation>
    </message>
</context>
<context>
    <name>Startup</name>
    <message>
        <source>Some settings could not be used and were reset to their defaults.</source>
        <translation>有些设置无法使用，已恢复为默认值。</translation>
    </message>
    <message>
        <source>This computer&apos;s processor cannot run Mingjing</source>
        <translation>这台电脑的处理器无法运行明镜</translation>
    </message>
    <message>
        <source>It lacks %1, which the language-model engine needs. Mingjing runs on x86-64 processors with AVX2: Intel Haswell (2013), AMD Excavator (2015) or newer.</source>
        <translation>它缺少语言模型引擎所需的 %1。明镜需要支持 AVX2 的 x86-64 处理器：Intel Haswell（2013 年）、AMD Excavator（2015 年）或更新的型号。</translation>
    </message>
</context>
<context>
    <name>TurnController</name>
    <message>
        <source>%s tokens</source>
        <translation>%s 个词元</translation>
    </message>
    <message>
        <source>%.1f tok/s</source>
        <translation>%.1f 词元/秒</translation>
    </message>
    <message>
        <source>first token %.2f s</source>
        <translation>首个词元 %.2f 秒</translation>
    </message>
    <message>
        <source>prompt %s (%s reused)</source>
        <translation>提示词 %s（复用 %s）</translation>
    </message>
    <message>
        <source>%s of %s drafted kept</source>
        <translation>起草词元保留 %s / %s</translation>
    </message>
    <message>
        <source>on %s</source>
        <translation>运行于 %s</translation>
    </message>
    <message>
        <source>stopped: %s</source>
        <translation>停止原因：%s</translation>
    </message>
    <message>
        <source>Reading the prompt: %1 tokens…</source>
        <translation>正在读取提示词：%1 个词元…</translation>
    </message>
    <message>
        <source>Reading the prompt: %1 % (%2 of %3 tokens, %4 tok/s, about %5 s left)</source>
        <translation>正在读取提示词：%1 %（%2 / %3 个词元，%4 词元/秒，约剩 %5 秒）</translation>
    </message>
    <message>
        <source>stop_string</source>
        <comment>stop reason: a stop string</comment>
        <translation>遇到停止字符串</translation>
    </message>
    <message>
        <source>max_tokens</source>
        <comment>stop reason: reply length limit</comment>
        <translation>达到回复长度上限</translation>
    </message>
    <message>
        <source>cancelled</source>
        <comment>stop reason: the user pressed Stop</comment>
        <translation>用户停止</translation>
    </message>
    <message>
        <source>context_full</source>
        <comment>stop reason: context is full</comment>
        <translation>上下文窗口已满</translation>
    </message>
    <message>
        <source>The model is loading…</source>
        <translation>模型正在加载…</translation>
    </message>
    <message>
        <source>No model is loaded</source>
        <translation>没有加载模型</translation>
    </message>
    <message>
        <source>Opening history…</source>
        <translation>正在打开历史记录…</translation>
    </message>
    <message>
        <source>Thinking…</source>
        <translation>正在思考…</translation>
    </message>
    <message>
        <source>Editing your message: sending replaces it and the reply after it.</source>
        <translation>正在编辑你的消息：发送后会替换这条消息及其后的回复。</translation>
    </message>
    <message>
        <source>Reply copied.</source>
        <translation>回复已复制。</translation>
    </message>
    <message numerus="yes">
        <source>%n oldest message(s) left out to fit the context window.</source>
        <translation>
            <numerusform>为放入上下文窗口，省略了最早的 %n 条消息。</numerusform>
        </translation>
    </message>
    <message>
        <source>Generating… (Esc to stop)</source>
        <translation>正在生成…（按 Esc 停止）</translation>
    </message>
    <message>
        <source>(Esc to stop)</source>
        <translation>（按 Esc 停止）</translation>
    </message>
    <message>
        <source>Not sent.</source>
        <translation>未发送。</translation>
    </message>
    <message>
        <source>Could not send</source>
        <translation>无法发送</translation>
    </message>
    <message>
        <source>%.1f tok/s · first token %.2f s · reused %d/%d prompt tokens</source>
        <translation>%.1f 词元/秒 · 首个词元 %.2f 秒 · 复用提示词词元 %d/%d</translation>
    </message>
    <message>
        <source>Ready.</source>
        <translation>就绪。</translation>
    </message>
</context>
<context>
    <name>_Column</name>
    <message>
        <source>&lt;b&gt;What the model reads&lt;/b&gt; (the prompt after its chat template)</source>
        <translation>&lt;b&gt;模型读到的内容&lt;/b&gt;（套用聊天模板后的提示词）</translation>
    </message>
    <message>
        <source>&lt;b&gt;What it writes&lt;/b&gt;</source>
        <translation>&lt;b&gt;模型写出的内容&lt;/b&gt;</translation>
    </message>
</context>
</TS>
