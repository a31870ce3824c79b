-- manpage.lua - a pandoc filter that turns one of docs/*.md into a man page.
-- The Markdown opens with "# NAME(SECTION) — what it is" and uses "##" for
-- the sections a man page has (SYNOPSIS, DESCRIPTION, ...), so that it reads
-- well on the web too. Here that first line becomes the .TH title and the
-- NAME section whatis(1) and apropos(1) read, each "##" becomes .SH and each
-- "###" .SS, and links to other docs/*.md files keep only their text (the
-- page they point at is named in it, e.g. ferry.conf(5)). A table becomes
-- a list (.TP), one entry per row, as postconf(5) lists options: a terminal
-- page has no room for four columns of prose.

local function name_line(doc)
  local first = doc.blocks[1]
  if first == nil or first.t ~= "Header" or first.level ~= 1 then
    error("manpage.lua: the document must open with '# NAME(SECTION) — description'")
  end
  local text = pandoc.utils.stringify(first.content)
  local name, section, what = text:match("^(%S+)%((%d)%)%s+—%s+(.+)$")
  if name == nil then
    error("manpage.lua: first heading '" .. text .. "' is not 'NAME(SECTION) — description'")
  end
  return name, section, what
end

function Pandoc(doc)
  local name, section, what = name_line(doc)
  local blocks = {
    pandoc.Header(1, "NAME"),
    pandoc.Para({ pandoc.Str(name), pandoc.Space(), pandoc.RawInline("man", "\\-"),
                  pandoc.Space(), pandoc.Str(what) }),
  }
  for i = 2, #doc.blocks do
    local b = doc.blocks[i]
    if b.t == "Header" then
      if b.level == 1 then
        error("manpage.lua: a second '#' heading: " .. pandoc.utils.stringify(b.content))
      end
      b.level = b.level - 1
    end
    table.insert(blocks, b)
  end
  doc.meta.title = pandoc.MetaInlines({ pandoc.Str(name:upper()) })
  doc.meta.section = pandoc.MetaInlines({ pandoc.Str(section) })
  return pandoc.Pandoc(blocks, doc.meta)
end

function Link(l)
  if l.target:match("%.md$") or l.target:match("%.md#") then
    return l.content
  end
end

-- One row: its first cell is the term; the middle cells become
-- "Header: value." and the last cell follows as the description.
local function table_row_item(headers, row)
  local body = pandoc.List()
  for j = 2, #row do
    local text = pandoc.utils.blocks_to_inlines(row[j])
    if j < #row then
      local label = pandoc.utils.stringify(headers[j])
      label = label:sub(1, 1):upper() .. label:sub(2)
      body:insert(pandoc.Str(label .. ":"))
      body:insert(pandoc.Space())
      body:extend(text)
      body:insert(pandoc.Str("."))
    else
      body:extend(text)
    end
    body:insert(pandoc.Space())
  end
  return { pandoc.utils.blocks_to_inlines(row[1]), { pandoc.Para(body) } }
end

function Table(t)
  local simple = pandoc.utils.to_simple_table(t)
  local items = {}
  for _, row in ipairs(simple.rows) do
    table.insert(items, table_row_item(simple.headers, row))
  end
  return pandoc.DefinitionList(items)
end
